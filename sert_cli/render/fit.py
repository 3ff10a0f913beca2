"""Tables that fit the width they are drawn at without cutting a value (issue 25).

Rich, given a table wider than the console, narrows the widest columns first and then all
of them evenly, and a word longer than its column is cut with an ellipsis. Here a table is
measured first, and drawn:

1. as it is, when it fits;
2. else with each column at least as wide as its longest word (header included; a column
   made with no_wrap as wide as its longest line: rather stacked, 4, than wrapped) and the
   space left given to the columns that then fit on one line, those that need least
   first: cells wrap between words, never inside one, onto at most three lines (TALLEST);
3. else the same with tighter spacing (two blanks between columns, none at the edges);
4. else as several tables one under another, each repeating the first `keys` columns
   (what names a row) and taking as many of the other columns, in order, as fit (wrapped
   as in 3, onto as many lines as it takes).

Only a single word wider than the whole width (a long file path) is ever broken, and then
folded onto the next line, whole, rather than cut with an ellipsis."""

from dataclasses import replace

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

# Rows that would wrap onto more lines than this read better stacked (step 4)
TALLEST = 3


def print_table(console: Console, table: Table, keys: int = 1, margins: bool = True) -> None:
    """Print the table at the console's width, every value whole (the module's doc).
    margins=False: a table made without edges (under a heading) keeps no blank line above
    or below it, only between the parts it is stacked into."""
    parts = fitted(console, table, keys)
    for number, part in enumerate(parts):
        if part.box and not part.show_edge:  # compact: the blank lines the edges were
            if part.title:
                console.print(part.title, style="table.title", markup=False)
                part.title = None
            if number == 0 and margins:  # (after the first, the last one's bottom line)
                console.print()
            console.print(part)
            if margins or number < len(parts) - 1:
                console.print()
        else:
            console.print(part)


def fitted(console: Console, table: Table, keys: int = 1) -> list[Table]:
    """The table, or the tables it is stacked into, each with column widths that fit."""
    width = console.width
    if _natural_width(console, table) <= width:
        return [table]
    spans = [_measure(console, table, c) for c in table.columns]
    if sum(high for _, high in spans) + _overhead(table, compact=True) <= width:
        _compact(table)  # every cell on one line, if with less space between columns
        return [table]
    for compact in (False, True):
        if _fit_widths(console, table, width, True, compact, TALLEST):
            return [table]
    _compact(table)
    parts = []
    for columns in _groups(console, table, width, keys):
        part = _part(table, columns, first=not parts)
        if not any(_fit_widths(console, part, width, whole, True) for whole in (True, False)):
            _fold(console, part, width)
        parts.append(part)
    return parts


def _natural_width(console: Console, table: Table) -> int:
    return Measurement.get(console, console.options.update_width(10**6), table).maximum


def _measure(console: Console, table: Table, column) -> tuple[int, int]:
    """The column's content widths (without padding): its longest word, its longest line."""
    options = console.options.update_width(10**6)
    cells = [column.header] if table.show_header else []
    cells += list(column.cells)
    lows, highs = [0], [0]
    for cell in cells:
        low, high = Measurement.get(console, options, cell)
        lows.append(low)
        highs.append(high)
    return max(lows), max(highs)


def _overhead(table: Table, compact: bool = False) -> int:
    """What the table adds to its columns' contents: edges, dividers and padding (as it
    is, or once compact)."""
    n = len(table.columns)
    if compact:
        return 2 * (n - 1) if table.box else n - 1
    _, right, _, left = table.padding
    extra = (2 if table.box and table.show_edge else 0) + (n - 1 if table.box else 0)
    padding = (left + right) * n
    if not table.pad_edge:
        padding -= left + right
    return extra + padding


def _fit_widths(
    console: Console,
    table: Table,
    width: int,
    whole: bool = False,
    compact: bool = False,
    tallest: int | None = None,
    apply: bool = True,
) -> bool:
    """Give each column a width at least its longest word (with `whole`, a column made
    with no_wrap its longest line), if they all fit in `width` (with `compact` spacing)
    and no cell then wraps onto more than `tallest` lines."""
    spans = [_measure(console, table, c) for c in table.columns]
    room = width - _overhead(table, compact)
    widths = [
        high if whole and column.no_wrap else low
        for column, (low, high) in zip(table.columns, spans, strict=True)
    ]
    if sum(widths) > room:
        return False
    spare = room - sum(widths)
    # the space left to the columns it puts on one line: the first (what names a row),
    # then those that need least; what is left after them to the column that wraps most
    order = [0, *sorted(range(1, len(spans)), key=lambda i: spans[i][1] - spans[i][0])]
    for i in order:
        need = spans[i][1] - widths[i]
        if need <= spare:
            widths[i] += need
            spare -= need
    if spare:
        widest = max(order, key=lambda i: spans[i][1] - widths[i])
        widths[widest] += min(spare, spans[widest][1] - widths[widest])
    if tallest is not None and _lines(console, table, widths) > tallest:
        return False
    if not apply:
        return True
    if compact:
        _compact(table)
    for column, w in zip(table.columns, widths, strict=True):
        column.width = max(w, 1)
        column.no_wrap = False
        column.overflow = "fold"  # (a word never is wider than its column here)
    return True


def _lines(console: Console, table: Table, widths: list[int]) -> int:
    """The most lines a cell (or a header) wraps onto at these column widths."""
    most = 1
    for column, w in zip(table.columns, widths, strict=True):
        cells = [column.header] if table.show_header else []
        for cell in [*cells, *column.cells]:
            text = console.render_str(cell) if isinstance(cell, str) else cell
            if isinstance(text, Text):
                most = max(most, len(text.wrap(console, max(w, 1))))
    return most


def _compact(table: Table) -> None:
    """Two blanks between columns, none at the table's edges."""
    table.show_edge = False
    table.pad_edge = False
    table.padding = (0, 1, 0, 0)


def _groups(console: Console, table: Table, width: int, keys: int) -> list[list[int]]:
    """The columns of each stacked table: the key columns, then as many as fit as in 2-3."""
    keys = min(keys, len(table.columns) - 1)

    def fits(indexes):
        part = _part(table, indexes, first=False)
        return _fit_widths(console, part, width, True, True, TALLEST, apply=False)

    groups: list[list[int]] = []
    current = list(range(keys))
    for i in range(keys, len(table.columns)):
        if _measure(console, table, table.columns[i])[1] == 0:
            continue  # an empty column (a flag no row has): nothing to show
        if len(current) > keys and not fits([*current, i]):
            groups.append(current)
            current = list(range(keys))
        current.append(i)
    groups.append(current)
    return groups


def _part(table: Table, indexes: list[int], first: bool) -> Table:
    """A table of some of the columns, rows and style kept; the title only on the first."""
    columns = [replace(table.columns[i]) for i in indexes]
    part = Table(
        *columns,
        title=table.title if first else None,
        title_justify=table.title_justify,
        box=table.box,
        show_header=table.show_header,
        show_edge=table.show_edge,
        pad_edge=table.pad_edge,
        padding=table.padding,
    )
    part.rows = list(table.rows)
    return part


def _fold(console: Console, table: Table, width: int) -> None:
    """A last resort for a word wider than the width: the other columns keep their longest
    word, and the widest words are folded into what is left."""
    room = max(width - _overhead(table, compact=not table.show_edge), len(table.columns))
    widths = [_measure(console, table, c)[0] for c in table.columns]
    for i in sorted(range(len(widths)), key=lambda i: -widths[i]):
        over = sum(widths) - room
        if over <= 0:
            break
        widths[i] = max(1, widths[i] - over)
    for column, w in zip(table.columns, widths, strict=True):
        column.width = w
        column.no_wrap = False
        column.overflow = "fold"
