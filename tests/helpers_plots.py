"""Image checks of figures: legends and free-standing texts clear of the plotted data, colours that
really reach the rendered pixels, and the drawn extent of bars and error bars in data units."""

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.transforms import Bbox

from spdnas import plots

# texts that belong to one slot or bar by design (a "not run" slot's label, "n=1" on a bar)
ON_DATA_GIDS = {"not run", "bar label"}


def draw(fig):
    """Render ``fig`` with the Agg canvas under the workbench style; returns the renderer."""
    canvas = FigureCanvasAgg(fig)
    with plots.style():
        canvas.draw()
    return canvas.get_renderer()


def data_boxes(fig, renderer) -> list:
    """Display extents of every visible line, patch and collection of every axes, clipped to the axes."""
    boxes = []
    for ax in fig.axes:
        if not ax.axison:
            continue
        frame = ax.get_window_extent(renderer)
        for art in [*ax.lines, *ax.patches, *ax.collections]:
            if not art.get_visible():
                continue
            box = Bbox.intersection(art.get_window_extent(renderer), frame)
            if box is not None and box.width > 0 and box.height >= 0:
                boxes.append((ax, art, box))
    return boxes


def annotations(fig) -> list:
    """Every legend (axes and figure legends) and every free-standing axes text."""
    out = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    out += [t for ax in fig.axes for t in ax.texts if t.get_visible() and t.get_text().strip()
            and t.get_gid() not in ON_DATA_GIDS]
    return out


def _overlap(a, b) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > 0.5 and min(a.y1, b.y1) - max(a.y0, b.y0) > 0.5


def covered(fig) -> list:
    """``(annotation, artist)`` pairs where a legend or text covers a plotted artist's extent."""
    renderer = draw(fig)
    boxes = data_boxes(fig, renderer)
    assert boxes, "figure has no plotted data"
    bad = []
    for ann in annotations(fig):
        ext = ann.get_window_extent(renderer)
        bad += [(ann, art) for _, art, box in boxes if _overlap(ext, box)]
    return bad


def assert_annotations_clear(fig, need_legend: bool = True):
    if need_legend:
        assert [a for a in annotations(fig) if a.__class__.__name__ == "Legend"], "figure has no legend"
    bad = covered(fig)
    assert not bad, f"annotations cover data: {[(type(a).__name__, type(b).__name__) for a, b in bad][:5]}"


def colour_pixels(fig, colour, dpi: int = 60, tol: float = 0.03) -> int:
    """How many rendered pixels of the data (legends hidden) have ``colour`` (up to ``tol`` per channel)."""
    legends = [lg for lg in annotations(fig) if lg.__class__.__name__ == "Legend" and lg.get_visible()]
    fig.set_dpi(dpi)
    for lg in legends:
        lg.set_visible(False)
    try:
        draw(fig)
        img = np.asarray(fig.canvas.buffer_rgba())[..., :3] / 255.0
    finally:
        for lg in legends:
            lg.set_visible(True)
    return int((np.abs(img - np.asarray(to_rgb(colour))) <= tol).all(axis=-1).sum())


def drawn_y_range(ax) -> tuple[float, float]:
    """Lowest and highest y (data units) reached by the bars (bar containers; "not run" slots left
    out) and by the error bars (segments and caps) of ``ax``."""
    ys = []
    for c in ax.containers:
        if isinstance(c, BarContainer):
            for p in c.patches:
                if p.get_gid() != "not run":
                    ys += [p.get_y(), p.get_y() + p.get_height()]
        elif isinstance(c, ErrorbarContainer):
            _, caps, segments = c.lines
            for col in segments:
                ys += [float(y) for seg in col.get_segments() for y in np.asarray(seg)[:, 1]]
            for cap in caps:
                ys += [float(y) for y in cap.get_ydata()]
    assert ys, "no bars or error bars drawn"
    return min(ys), max(ys)
