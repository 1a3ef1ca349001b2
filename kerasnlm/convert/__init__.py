"""Checkpoints of other libraries in and out: Hugging Face BERT folders and keras-hub models.

`TransformerBackbone.from_pretrained`, `save_pretrained` and `from_keras_hub` are the public
routes; the modules here hold the weight maps they use.
"""
