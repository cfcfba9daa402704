"""pilotpack's shared core: validation, training, evaluation, ONNX export, tracking, serving.

Nothing here knows a column name or a domain word; use cases live in `usecases/`.
"""
