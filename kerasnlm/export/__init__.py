"""Export: task models as SavedModels that take raw strings and serve without kerasnlm."""

from kerasnlm.export.saved_model import export_saved_model
