"""Local stand-ins for Google Cloud Storage (fake-gcs-server) and Vertex AI batch prediction.

Entry points:
- ``tests.stand_ins.stack.StandIns``: context manager that starts everything and exposes ``.env``.
- ``python -m tests.stand_ins.stack``: start everything and print ``export K=V`` lines.
- ``python -m tests.stand_ins.vertex_emulator``: the Vertex AI batchPredictionJobs emulator alone.
"""
