"""The AWS stage's core: the Personalize port, typed statuses, one waiter, and the use cases.

* :func:`imports.import_manifest`: an export manifest → dataset import jobs (idempotent, parks when full);
* :func:`training.train`: new FULL solution versions (serving solution + popularity baseline);
* :func:`monitor.monitor`: follow jobs to their end, alert once per failure, decide and promote.
Handlers in ``functions_aws`` and the demo call these with a :class:`stage.StageDeps`.
"""
