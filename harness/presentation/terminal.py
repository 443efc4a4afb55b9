"""Tables that fit the terminal without cutting what identifies a run or a number.

rich shrinks a too-wide table by cutting cells with "…", which turns `gan-final-lr0.0005-s0`
and `gan-final-lr0.0002-s0` into the same `gan-fin…`. Here every column gets at least the
width of its widest cell (free-text columns: of their longest word, the rest wraps at spaces),
and columns that do not fit beside the first ones move into a second table that repeats the
identifying columns. Piped output is one table, as wide as it needs to be.
"""

import io
import textwrap
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

BORDERS_PER_COLUMN = 3  # one space of padding on each side and one border line
OUTER_BORDER = 1
MIN_FOLDED_WIDTH = 8


@dataclass(frozen=True)
class Field:
    """One column: its header, alignment, and whether its cells are free text that may wrap at spaces."""

    header: str
    justify: str = "left"
    wraps: bool = False


def _width(markup: str) -> int:
    return max((Text.from_markup(line).cell_len for line in markup.splitlines()), default=0)


def _longest_word(markup: str) -> int:
    return max((Text(word).cell_len for word in Text.from_markup(markup).plain.split()), default=0)


def _needed(field: Field, cells: list[str]) -> tuple[int, int]:
    """(minimum, natural) width: headers may wrap at spaces, number and id cells never."""
    header_word = _longest_word(field.header)
    natural = max([_width(field.header)] + [_width(c) for c in cells])
    if field.wraps:
        return max([header_word] + [_longest_word(c) for c in cells]), natural
    return max([header_word] + [_width(c) for c in cells]), natural


@dataclass
class Grid:
    """A table's content: rich-markup cells by row; `keep` leading fields identify a row and are
    repeated in every part when the table is split to fit."""

    title: str
    fields: list[Field]
    rows: list[list[str]]
    keep: int = 1
    caption: str | None = None

    def tables(self, width: int | None) -> list[Table]:
        """One table, or several of at most `width` columns each; `width=None`: one table, nothing wrapped."""
        columns = [[row[i] for row in self.rows] for i in range(len(self.fields))]
        minimum, natural = zip(*(_needed(f, c) for f, c in zip(self.fields, columns)))
        groups = [list(range(len(self.fields)))] if width is None else self._split(minimum, width)
        tables = []
        for number, group in enumerate(groups):
            widths = dict(zip(group, natural if width is None else minimum))
            widths = widths if width is None else _fold_widest(widths, width)
            part = f" ({number + 1}/{len(groups)})" if len(groups) > 1 else ""
            table = Table(title=f"{self.title}{part}", title_justify="left",
                          caption=self.caption if number == len(groups) - 1 else None, caption_justify="left")
            for i in group:
                field = self.fields[i]
                # A header wraps at spaces to its column's width (no_wrap would keep it whole and widen the table).
                header = field.header if width is None else textwrap.fill(field.header, widths[i],
                                                                           break_long_words=False)
                table.add_column(header, justify=field.justify,  # type: ignore[arg-type]
                                 min_width=widths[i],
                                 no_wrap=width is None or not field.wraps, overflow="fold")
            for row in self.rows:
                table.add_row(*(row[i] for i in group))
            tables.append(table)
        return tables

    def _split(self, minimum: tuple[int, ...], width: int) -> list[list[int]]:
        kept = list(range(min(self.keep, len(self.fields))))
        used = OUTER_BORDER + sum(minimum[i] + BORDERS_PER_COLUMN for i in kept)
        groups, current, current_width = [], list(kept), used
        for i in range(len(kept), len(self.fields)):
            needed = minimum[i] + BORDERS_PER_COLUMN
            if current_width + needed > width and len(current) > len(kept):
                groups.append(current)
                current, current_width = list(kept), used
            current.append(i)
            current_width += needed
        groups.append(current)
        return groups

    def natural_width(self) -> int:
        """The width one table of every field needs without wrapping anything."""
        columns = [[row[i] for row in self.rows] for i in range(len(self.fields))]
        cells = OUTER_BORDER + sum(_needed(f, c)[1] + BORDERS_PER_COLUMN for f, c in zip(self.fields, columns))
        return max(cells, len(self.title))


def show(console: Console, grid: Grid) -> None:
    """Print the grid: split to the terminal's width, or (piped, a log file) as one table as wide as it needs."""
    if console.is_terminal:
        for table in grid.tables(console.width):
            console.print(table)
        return
    wide = Console(file=console.file, width=max(console.width, grid.natural_width()), highlight=False)
    for table in grid.tables(None):
        wide.print(table)


def _fold_widest(widths: dict[int, int], width: int) -> dict[int, int]:
    """Where even one column beside the identifying ones is wider than the terminal (a very long run
    id), narrow the widest column so the table fits: its cells fold onto more lines, nothing is cut."""
    excess = OUTER_BORDER + sum(w + BORDERS_PER_COLUMN for w in widths.values()) - width
    if excess <= 0:
        return widths
    widest = max(widths, key=lambda i: widths[i])
    return {**widths, widest: max(MIN_FOLDED_WIDTH, widths[widest] - excess)}


def render(grid: Grid, width: int) -> str:
    """What a terminal `width` columns wide shows of `grid` (tests and docs)."""
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    for table in grid.tables(width):
        console.print(table)
    return console.export_text()
