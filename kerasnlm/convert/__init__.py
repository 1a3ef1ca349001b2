"""Checkpoints of other libraries in and out: Hugging Face BERT folders and keras-hub models.

`TransformerBackbone.from_pretrained`, `save_pretrained` and `from_keras_hub` are the public
routes. `weight_map` describes once which BERT tensors make each backbone variable;
`hugging_face` and `keras_hub_models` add only their names and tensor layouts.
"""
