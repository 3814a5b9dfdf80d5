#!/usr/bin/python3
"""Fit the polynomial coefficients of the JIT math library (jit/math_*.cpp).

Each polynomial is a weighted minimax fit of the relative error, found with the
Remez exchange algorithm in double precision. Its coefficients are then moved
to float by a search over the neighbouring floats of each (see fit_rounded).
The script prints the float coefficients as C++ hex-float literals and the max
relative error of the float polynomial, evaluated in double on a dense grid.
That is the approximation error alone: the tests in tests/math_*_test.cpp
measure it together with the rounding of the float evaluation.

Run: scripts/fit_polynomials.py [--explore]  (needs numpy; Debian: python3-numpy)
"""

import math
import sys

import numpy as np

GRID_POINTS = 200000  # even, so that no grid point falls on 0
MAX_ITERATIONS = 60
SEARCH_ROUNDS = 50


def chebyshev_extrema(a, b, count):
    """Return `count` Chebyshev extrema mapped onto [a, b], in increasing order."""
    k = np.arange(count)
    nodes = -np.cos(np.pi * k / (count - 1))
    # An odd count puts a node at the midpoint. For exp that is t = 0, where
    # the relative error is 0 for any coefficients, which makes the first
    # linear system singular. Moving the node aside avoids that.
    nodes[np.abs(nodes) < 1e-12] = 1e-3
    return 0.5 * (a + b) + 0.5 * (b - a) * nodes


def local_extrema(grid, error, count):
    """Pick `count` points of alternating sign where |error| is largest.

    The grid is cut into runs of equal error sign; each run contributes its
    point of largest |error|. While there are too many runs, the pair of
    neighbours with the smallest |error| loses its weaker member, which keeps
    the signs alternating.
    """
    signs = np.sign(error)
    signs[signs == 0] = 1
    boundaries = np.concatenate(([0], np.nonzero(np.diff(signs))[0] + 1, [len(grid)]))
    points = []
    values = []
    for start, stop in zip(boundaries[:-1], boundaries[1:]):
        best = start + int(np.argmax(np.abs(error[start:stop])))
        points.append(grid[best])
        values.append(error[best])
    while len(points) > count:
        magnitudes = np.abs(values)
        if magnitudes[0] < magnitudes[-1] and len(points) - count == 1:
            del points[0]
            del values[0]
            continue
        if len(points) - count == 1:
            del points[-1]
            del values[-1]
            continue
        pair = min(range(len(points) - 1), key=lambda j: max(magnitudes[j], magnitudes[j + 1]))
        del points[pair:pair + 2]
        del values[pair:pair + 2]
    if len(points) < count:
        raise RuntimeError(f"error curve has {len(points)} alternations, need {count}")
    return np.array(points)


def remez(function, fixed, basis, a, b, reference=None):
    """Weighted minimax fit of the relative error of fixed(z) + sum c_k basis_k(z).

    `function(z)` is the exact value, `fixed(z)` the part of the approximation
    whose coefficients are already fixed, `basis` a list of functions of z.
    Returns (coefficients, levelled error, reference points).

    When the interval contains 0 and every basis function vanishes there (as
    in 1 + t q(t) for exp), the relative error is z times a smooth function
    and changes sign at 0 whatever the coefficients. The alternation is then
    counted on error * sign(z), the smooth part, or the exchange would take
    that forced sign change for an alternation and stop at a fit that is not
    minimax.
    """
    unknowns = len(basis)
    grid = np.linspace(a, b, GRID_POINTS)
    if reference is None or len(reference) != unknowns + 1:
        reference = chebyshev_extrema(a, b, unknowns + 1)
    level = 0.0
    for _ in range(MAX_ITERATIONS):
        f = function(reference)
        matrix = np.zeros((unknowns + 1, unknowns + 1))
        for k, phi in enumerate(basis):
            matrix[:, k] = phi(reference) / f
        matrix[:, unknowns] = -((-1.0) ** np.arange(unknowns + 1)) * orientation(reference)
        rhs = 1.0 - fixed(reference) / f
        solution = np.linalg.solve(matrix, rhs)
        coefficients, level = solution[:unknowns], solution[unknowns]
        error = relative_error(function, fixed, basis, coefficients, grid)
        new_reference = local_extrema(grid, error * orientation(grid), unknowns + 1)
        worst = np.max(np.abs(error))
        if worst <= abs(level) * (1 + 1e-6):
            break
        reference = new_reference
    return coefficients, abs(level), reference


def orientation(z):
    """sign(z), with +1 at 0."""
    return np.where(z < 0.0, -1.0, 1.0)


def relative_error(function, fixed, basis, coefficients, z):
    value = fixed(z)
    for c, phi in zip(coefficients, basis):
        value = value + c * phi(z)
    exact = function(z)
    return (value - exact) / exact


def fit_rounded(function, fixed_part, basis, a, b):
    """Fit in double with Remez, then move the coefficients to float.

    Rounding each coefficient to the nearest float does not give the best
    float polynomial. So a coordinate search follows: each coefficient in turn
    moves by 1 or 2 float steps up or down while that lowers the max relative
    error on a grid. Returns the float32 coefficients, the max relative error of the
    float polynomial on a fine grid, and that of the double fit.
    """
    coefficients, double_error, _ = remez(function, fixed_part, basis, a, b)

    def error_function(points):
        exact = function(points)
        residual = exact - fixed_part(points)
        matrix = np.stack([phi(points) for phi in basis], axis=1)
        return lambda c: float(np.max(np.abs((matrix @ np.asarray(c, dtype=np.float64) - residual) / exact)))

    search_error = error_function(np.linspace(a, b, GRID_POINTS // 4))
    rounded = [np.float32(c) for c in coefficients]
    best = search_error(rounded)
    for _ in range(SEARCH_ROUNDS):
        improved = False
        for index in range(len(rounded)):
            for steps in (-2, -1, 1, 2):
                candidate = list(rounded)
                value = candidate[index]
                direction = np.float32(np.inf if steps > 0 else -np.inf)
                for _ in range(abs(steps)):
                    value = np.nextafter(value, direction)
                candidate[index] = value
                error = search_error(candidate)
                if error < best:
                    rounded, best, improved = candidate, error, True
        if not improved:
            break
    final_error = error_function(np.linspace(a, b, 4 * GRID_POINTS))(rounded)
    return rounded, final_error, double_error


def hex_float(value):
    """C++ hex-float literal of a float32."""
    text = float(value).hex()  # for example 0x1.62e4300000000p-1
    mantissa, exponent = text.split("p")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}p{exponent}f"


def print_fit(title, names, fit):
    coefficients, error, double_error = fit
    print(f"// {title}")
    print(f"// max relative error: {error:.3e} = {error / 2.0**-24:.3f} * 2^-24"
          f" (double coefficients: {double_error:.3e})")
    for name, c in zip(names, coefficients):
        print(f"constexpr float {name} = {hex_float(c)};  // {float(c):.9e}")
    print()


def fit_exp(degree):
    """e^t ~ 1 + c1 t + ... + c_degree t^degree on [-ln2/2, ln2/2]."""
    half = math.log(2.0) / 2.0
    basis = [(lambda t, k=k: t**k) for k in range(1, degree + 1)]
    return fit_rounded(np.exp, np.ones_like, basis, -half, half)


def fit_exp_table(entries, degree):
    """e^r ~ 1 + c1 r + ... + c_degree r^degree for the softmax exp.

    With a table of 2^(j / K), K = entries, r = x - N ln2 / K lies in
    [-ln2/2K, ln2/2K]; the interval is widened by 0.1% for the rounding of
    x * K log2(e) to N. K = 8 at degree 3 (AVX2) gives c1 = 1.0f exactly; K = 32
    at degree 2 (AVX-512) does not.
    """
    half = math.log(2.0) / (2 * entries) * 1.001
    basis = [(lambda r, k=k: r**k) for k in range(1, degree + 1)]
    return fit_rounded(np.exp, np.ones_like, basis, -half, half)


def fit_log(degree):
    """log1p(f) ~ f + f^2 (c0 + c1 f + ... + c_degree f^degree) on [sqrt(1/2)-1, sqrt(2)-1]."""
    low = math.sqrt(0.5) - 1.0
    high = math.sqrt(2.0) - 1.0
    basis = [(lambda f, k=k: f**(k + 2)) for k in range(degree + 1)]
    # The relative error is 0/0 at f = 0; the grids step over 0, but nudge an
    # exact zero anyway.
    def nonzero(f):
        return np.where(f == 0.0, 1e-30, f)
    return fit_rounded(lambda f: np.log1p(nonzero(f)), nonzero, basis, low, high)


def fit_tanh(degree, limit):
    """tanh(x) ~ x + x^3 (c0 + c1 x^2 + ... + c_degree x^(2 degree)) on (0, limit]."""
    basis = [(lambda x, k=k: x**(2 * k + 3)) for k in range(degree + 1)]
    # Odd function: fitting on the positive half is enough. The relative error
    # tends to 0 at x = 0, so the interval starts just above 0.
    return fit_rounded(np.tanh, lambda x: x, basis, limit * 1e-3, limit)


def main():
    if "--explore" in sys.argv:
        # Error against degree, to choose the degrees below.
        for degree in range(5, 8):
            _, error, double_error = fit_exp(degree)
            print(f"exp degree {degree}: {error:.3e} (double {double_error:.3e})")
        for entries in (8, 16, 32):
            for degree in range(2, 5):
                _, error, double_error = fit_exp_table(entries, degree)
                print(f"softmax exp, {entries} entries, degree {degree}: {error:.3e} (double {double_error:.3e})")
        for degree in range(6, 10):
            _, error, double_error = fit_log(degree)
            print(f"log Q degree {degree}: {error:.3e} (double {double_error:.3e})")
        for limit in (0.55, 0.625, 0.75):
            for degree in range(3, 6):
                try:
                    _, error, double_error = fit_tanh(degree, limit)
                except RuntimeError as failure:
                    print(f"tanh limit {limit} R degree {degree}: {failure}")
                    continue
                print(f"tanh limit {limit} R degree {degree}: {error:.3e} (double {double_error:.3e})")
        return

    print_fit(f"exp: e^t ~ 1 + t P(t) on [-ln2/2, ln2/2], polynomial of degree {EXP_DEGREE}",
              [f"kExpC{k}" for k in range(1, EXP_DEGREE + 1)], fit_exp(EXP_DEGREE))
    for entries, degree in SOFTMAX_EXP_TABLES:
        print_fit(f"softmax exp, table of {entries}: e^r ~ 1 + r P(r) on [-ln2/{2 * entries}, ln2/{2 * entries}]"
                  f" (widened), degree {degree}",
                  [f"c{k}" for k in range(1, degree + 1)], fit_exp_table(entries, degree))
    print_fit(f"log: log1p(f) ~ f + f^2 Q(f) on [sqrt(1/2) - 1, sqrt(2) - 1], Q of degree {LOG_DEGREE}",
              [f"kLogQ{k}" for k in range(LOG_DEGREE + 1)], fit_log(LOG_DEGREE))
    print_fit(f"tanh: x + x^3 R(x^2) on [0, {TANH_LIMIT}], R of degree {TANH_DEGREE} in x^2",
              [f"kTanhR{k}" for k in range(TANH_DEGREE + 1)], fit_tanh(TANH_DEGREE, TANH_LIMIT))


EXP_DEGREE = 6
SOFTMAX_EXP_TABLES = ((8, 3), (32, 2))  # (K, degree): AVX2, AVX-512
LOG_DEGREE = 8
TANH_DEGREE = 4
TANH_LIMIT = 0.625

if __name__ == "__main__":
    main()
