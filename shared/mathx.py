"""Small math for both interpreters: piecewise-linear tables."""


def interp(table, x):
    """Piecewise-linear lookup in ((x0, y0), (x1, y1), ...) sorted by x; flat outside."""
    if x <= table[0][0]:
        return table[0][1]
    n = len(table)
    for k in range(1, n):
        x1 = table[k][0]
        if x <= x1:
            x0, y0 = table[k - 1]
            y1 = table[k][1]
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return table[n - 1][1]
