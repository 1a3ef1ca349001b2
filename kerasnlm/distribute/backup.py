import keras

from kerasnlm.distribute import keras_fixes  # noqa: F401  (checks what is patched here)
from kerasnlm.distribute.strategies import is_chief
from kerasnlm.distribute.strategies import worker_path


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` that several workers can share.

    Keras' callback has every worker write the same files in `backup_dir` and delete the folder
    at the end. Here every worker restores from `backup_dir` (put it on storage all workers
    see), the chief alone writes it (the others save to a private temporary copy, so all run
    the same save), and the chief alone deletes it when training ends. The previous backup is
    kept beside the newest (`double_checkpoint`), so a worker killed mid-write leaves one that
    loads.

    A rerun of the same `fit` after an interruption starts at the epoch after the last one
    backed up, with the weights and optimizer state of that moment.

    Args: as `keras.callbacks.BackupAndRestore` (`double_checkpoint` defaults to True).

    It overrides Keras' private `_save_model` and the paths its `__init__` sets: checked on
    import by `kerasnlm.distribute.keras_fixes.check_keras`.
    """

    def __init__(
        self, backup_dir, save_freq="epoch", double_checkpoint=True, delete_checkpoint=True
    ):
        super().__init__(
            backup_dir, save_freq=save_freq, double_checkpoint=double_checkpoint,
            delete_checkpoint=delete_checkpoint,
        )

    def _save_model(self):
        shared = {
            name: getattr(self, name)
            for name in ("backup_dir", "_weights_path", "_training_metadata_path",
                         "_prev_weights_path", "_prev_training_metadata_path")
        }
        for name, path in shared.items():
            setattr(self, name, worker_path(path, self.model.distribute_strategy))
        try:
            super()._save_model()
        finally:
            for name, path in shared.items():
                setattr(self, name, path)

    def on_train_end(self, logs=None):
        if is_chief(self.model.distribute_strategy):
            super().on_train_end(logs)
