"""TaskFlow decorators: ``task.cased_workflow_run``, ``task.cased_agent_session`` and
``task.casedev_action``, registered under provider info's ``task-decorators``."""
