"""matplotlib figures, made only when a plot is asked for (the `plots` extra).

`matplotlib.figure.Figure` directly, not pyplot: saving a PNG changes no backend and opens
no window, in a script, a test or a notebook alike.
"""


def figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "Plots need matplotlib: `pip install kerasnlm[plots]` (or `pip install matplotlib`)."
        ) from None
    return Figure(**kwargs)
