"""Training: resume Pythia-style GPT-NeoX models under DeepSpeed, and pretrain a small suite on CPU."""
