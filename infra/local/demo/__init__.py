"""``storyrec-dev demo``: the whole pipeline through its real wiring on the local stack, narrated.

One command, every stage the way production runs it:

1. the stack: moto (S3, SNS, SQS, CloudWatch), the GCS emulator and the local Personalize engine, plus
   firebase-tools running the Firestore, Pub/Sub and Functions emulators over the deployed
   ``functions_gcp`` code (with ``firestore.rules``);
2. the app writes stories (Admin SDK) and each user's client writes its profile and its clicks through
   the Firestore REST API with a mock user token, so the security rules apply (hostile clicks among
   them: the rules refuse some, capture quarantines others);
3. the capture triggers run in the Functions emulator;
4. the export runs in the Functions emulator on a message published to its Pub/Sub topic;
5. the import, train and monitor Lambdas run through their Powertools decorators with the events AWS
   would send (an S3 ObjectCreated of the manifest, EventBridge scheduled events) and a fake context
   (Lambda cannot run without Docker here);
6. a summary, and the HTML report of ``storyrec report``; the stack is stopped, even on failure.

Real Deskdrop data when ``../shared/data/deskdrop`` is there (a subset sized for the time budget),
generated traffic (:mod:`infra.local.traffic`) otherwise. Each step is a plain function of
:class:`~infra.local.demo.context.DemoContext` returning one line of narration; what the steps learn
goes into ``ctx.facts``.

The modules, in the order a run meets them:

- ``runner``: the stack and the emulator suite around the steps, stopped even on failure; ``STEPS``;
- ``data``: the Deskdrop subset or generated traffic; ``client``: the clients' writes through the
  Firestore REST API under the rules;
- ``gcp_steps``: app writes, clicks, capture, export; ``aws_steps``: the import, train and monitor
  Lambdas; ``feeds``: the scheduled feed fill;
- ``summary``: ``storyrec report`` and the closing tables.
"""
