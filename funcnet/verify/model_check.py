def verify_model(*a, **k): raise NotImplementedError
