"""Charts and labelled picture grids, drawn with Pillow.

Line charts of a run's metrics (`loss_curves`, and the experiments' reports)
in panels side by side, each with its title, axes, ticks, grid and legend;
and pictures laid out with labels. Pillow is enough for these, so the
default install carries no plotting library.
"""

import dataclasses
import math
from typing import Sequence

import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

# The loss-curves picture: each panel's title and the metrics it draws.
PANELS = (
    ('L_prior (KL)', ('loss/kl',)),
    ('L_llike', ('loss/llike',)),
    ('GAN losses', ('loss/gan_d', 'loss/gan_g')),
    ('Discriminator outputs', ('d/real', 'd/recon', 'd/prior')),
    ('Gradient norms', ('grad_norm/encoder', 'grad_norm/decoder',
                        'grad_norm/discriminator')),
)
COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40),
           (148, 103, 189), (140, 86, 75), (227, 119, 194), (127, 127, 127),
           (188, 189, 34), (23, 190, 207))
# A line past the colours' count is drawn dashed, DASH pixels on and GAP off.
DASH, GAP = 6, 4
WHITE, BLACK, GRID = (255, 255, 255), (30, 30, 30), (225, 225, 225)


@dataclasses.dataclass
class Panel:
  """One chart: a title, lines (label, x values, y values), and the scale
  of its y axis."""
  title: str
  lines: Sequence[tuple[str, Sequence[float], Sequence[float]]]
  log_y: bool = False
  x_label: str = 'step'


def _font(size: int) -> ImageFont.ImageFont:
  return ImageFont.load_default(size=size)


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
  """Round numbers spanning [low, high], about `count` of them."""
  if not math.isfinite(low) or not math.isfinite(high):
    return []
  if high <= low:
    high = low + (abs(low) or 1.0)
  raw = (high - low) / count
  step = 10 ** math.floor(math.log10(raw))
  step *= min((m for m in (1, 2, 2.5, 5, 10) if m * step >= raw),
              default=10)
  first = math.ceil(low / step) * step
  return [first + i * step for i in range(int((high - first) / step) + 1)]


def _label(value: float, log: bool) -> str:
  if log:
    return f'1e{int(round(value))}'
  return f'{value:.4g}'


def line_style(index: int) -> tuple[tuple[int, int, int], bool]:
  """The colour of a panel's line `index`, and whether it is dashed: the
  colours in turn, then again dashed, so that 2 * len(COLOURS) lines differ."""
  return COLOURS[index % len(COLOURS)], index // len(COLOURS) % 2 == 1


def _polyline(draw: ImageDraw.ImageDraw, points: Sequence[tuple[float, float]],
              colour: tuple[int, int, int], dashed: bool) -> None:
  """A line through `points`, 2 pixels wide, solid or dashed."""
  if not dashed:
    draw.line(points, fill=colour, width=2)
    return
  travelled = 0.0  # along the whole line, so the dashes run on at corners
  for (xa, ya), (xb, yb) in zip(points, points[1:]):
    length = math.hypot(xb - xa, yb - ya)
    at = 0.0
    while at < length:
      phase = travelled % (DASH + GAP)
      on = phase < DASH  # in a dash, else in a gap; step to its end
      step = min((DASH if on else DASH + GAP) - phase, length - at)
      if on:
        t0, t1 = at / length, (at + step) / length
        draw.line((xa + t0 * (xb - xa), ya + t0 * (yb - ya),
                   xa + t1 * (xb - xa), ya + t1 * (yb - ya)),
                  fill=colour, width=2)
      at += step
      travelled += step


def _draw_panel(draw: ImageDraw.ImageDraw, panel: Panel, box: tuple[int, ...],
                font: ImageFont.ImageFont, small: ImageFont.ImageFont) -> None:
  left, top, right, bottom = box
  draw.text(((left + right) / 2, top + 2), panel.title, fill=BLACK,
            font=font, anchor='ma')
  plot = (left + 52, top + 24, right - 10, bottom - 30)
  transform = (lambda y: math.log10(y)) if panel.log_y else (lambda y: y)
  points = []
  for _, xs, ys in panel.lines:
    pairs = [(float(x), transform(float(y))) for x, y in zip(xs, ys)
             if math.isfinite(float(y)) and (not panel.log_y or y > 0)]
    points.append(pairs)
  flat = [p for line in points for p in line]
  draw.rectangle(plot, outline=BLACK)
  draw.text(((plot[0] + plot[2]) / 2, bottom - 14), panel.x_label,
            fill=BLACK, font=small, anchor='mt')
  if not flat:
    return
  x0, x1 = min(p[0] for p in flat), max(p[0] for p in flat)
  y0, y1 = min(p[1] for p in flat), max(p[1] for p in flat)
  if x1 == x0:
    x1 = x0 + 1
  if y1 == y0:
    y0, y1 = y0 - 0.5, y1 + 0.5
  pad = 0.05 * (y1 - y0)
  y0, y1 = y0 - pad, y1 + pad
  sx = lambda x: plot[0] + (x - x0) / (x1 - x0) * (plot[2] - plot[0])
  sy = lambda y: plot[3] - (y - y0) / (y1 - y0) * (plot[3] - plot[1])
  y_ticks = ([float(t) for t in range(math.ceil(y0), math.floor(y1) + 1)]
             if panel.log_y else _nice_ticks(y0, y1))
  for tick in y_ticks:
    y = sy(tick)
    draw.line((plot[0], y, plot[2], y), fill=GRID)
    draw.text((plot[0] - 4, y), _label(tick, panel.log_y), fill=BLACK,
              font=small, anchor='rm')
  for tick in _nice_ticks(x0, x1, 4):
    x = sx(tick)
    draw.line((x, plot[1], x, plot[3]), fill=GRID)
    draw.text((x, plot[3] + 3), f'{tick:g}', fill=BLACK, font=small,
              anchor='mt')
  draw.rectangle(plot, outline=BLACK)
  for i, line in enumerate(points):
    colour, dashed = line_style(i)
    if len(line) > 1:
      _polyline(draw, [(sx(x), sy(y)) for x, y in line], colour, dashed)
    elif line:
      x, y = line[0]
      draw.ellipse((sx(x) - 2, sy(y) - 2, sx(x) + 2, sy(y) + 2), fill=colour)
  if panel.lines:  # the legend, in a box at the top right
    text = max(small.getlength(label) for label, _, _ in panel.lines)
    box = (plot[2] - text - 30, plot[1] + 3, plot[2] - 3,
           plot[1] + 7 + 12 * len(panel.lines))
    draw.rectangle(box, fill=WHITE, outline=GRID)
    for i, (label, _, _) in enumerate(panel.lines):
      y = box[1] + 8 + 12 * i
      colour, dashed = line_style(i)
      _polyline(draw, [(box[0] + 4, y), (box[0] + 18, y)], colour, dashed)
      draw.text((box[0] + 22, y), label, fill=BLACK, font=small, anchor='lm')


def line_charts(panels: Sequence[Panel], panel_size: tuple[int, int] = (
    360, 270)) -> np.ndarray:
  """Panels of line charts side by side.

  Args:
    panels: the charts.
    panel_size: (width, height) of each, in pixels.

  Returns:
    The picture as uint8 [H, W, 3].
  """
  width, height = panel_size
  image = Image.new('RGB', (width * len(panels), height), WHITE)
  draw = ImageDraw.Draw(image)
  font, small = _font(13), _font(10)
  for i, panel in enumerate(panels):
    _draw_panel(draw, panel, (i * width, 0, (i + 1) * width, height), font,
                small)
  return np.asarray(image)


def loss_curves(records: list[dict[str, float]]) -> np.ndarray:
  """Draws every loss term, D(x), D(x~), D(G(z)) and the gradient norms
  against the step.

  Args:
    records: metrics.jsonl records ({'step': ..., name: value}).

  Returns:
    The figure as uint8 [H, W, 3].
  """
  panels = []
  for title, keys in PANELS:
    lines = []
    for key in keys:
      points = [(r['step'], r[key]) for r in records if key in r]
      if points:
        lines.append((key, *zip(*points)))
    panels.append(Panel(title, lines, log_y=title == 'Gradient norms'))
  return line_charts(panels)


def _rgb(image: np.ndarray) -> Image.Image:
  image = np.asarray(image, np.uint8)
  if image.ndim == 3 and image.shape[-1] == 1:
    image = image[..., 0]
  return Image.fromarray(image).convert('RGB')


def titled_pictures(pictures: Sequence[tuple[str, np.ndarray]],
                    scale: int = 2) -> np.ndarray:
  """Pictures side by side, each under its title, enlarged `scale` times
  with nearest-neighbour pixels.

  Args:
    pictures: (title, uint8 [H, W, C]) pairs.
    scale: the enlargement.

  Returns:
    uint8 [H', W', 3].
  """
  images = [_rgb(p).resize((p.shape[1] * scale, p.shape[0] * scale),
                           Image.Resampling.NEAREST) for _, p in pictures]
  band, gap = 20, 10
  width = sum(i.width for i in images) + gap * (len(images) + 1)
  height = max(i.height for i in images) + band + gap
  out = Image.new('RGB', (width, height), WHITE)
  draw, font, x = ImageDraw.Draw(out), _font(13), gap
  for (title, _), image in zip(pictures, images):
    draw.text((x + image.width / 2, 3), title, fill=BLACK, font=font,
              anchor='ma')
    out.paste(image, (x, band))
    x += image.width + gap
  return np.asarray(out)


def labelled_rows(grid: np.ndarray, labels: Sequence[str], row_height: int,
                  pad: int = 2, scale: int = 2) -> np.ndarray:
  """A grid of pictures (`images.grid`) with a label left of each row.

  Args:
    grid: uint8 [rows·(row_height+pad)+pad, W, C].
    labels: one per row.
    row_height: the pictures' height.
    pad: the grid's padding.
    scale: the enlargement (nearest-neighbour pixels).

  Returns:
    uint8 [H', W', 3].
  """
  image = _rgb(grid)
  image = image.resize((image.width * scale, image.height * scale),
                       Image.Resampling.NEAREST)
  font = _font(13)
  margin = 12 + max(int(font.getlength(label)) for label in labels)
  out = Image.new('RGB', (image.width + margin, image.height), WHITE)
  out.paste(image, (margin, 0))
  draw = ImageDraw.Draw(out)
  for i, label in enumerate(labels):
    y = scale * (pad + i * (row_height + pad) + row_height / 2)
    draw.text((margin - 6, y), label, fill=BLACK, font=font, anchor='rm')
  return np.asarray(out)
