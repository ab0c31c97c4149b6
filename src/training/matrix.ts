// A dense row-major matrix of float64 values: the in-memory form of feature tables.

export interface Matrix {
  rows: number;
  columns: number;
  /** rows × columns values, row after row. */
  values: Float64Array;
}

export function createMatrix(rows: number, columns: number): Matrix {
  return { rows, columns, values: new Float64Array(rows * columns) };
}

export function matrixFromRows(data: readonly (readonly number[])[]): Matrix {
  const columns = data[0]?.length ?? 0;
  const matrix = createMatrix(data.length, columns);
  data.forEach((row, i) => matrix.values.set(row, i * columns));
  return matrix;
}

/** Squared Euclidean distance between row `row` of `a` and row `other` of `b`. */
export function squaredDistance(a: Matrix, row: number, b: Matrix, other: number): number {
  let sum = 0;
  const offsetA = row * a.columns;
  const offsetB = other * b.columns;
  for (let j = 0; j < a.columns; j++) {
    const d = a.values[offsetA + j] - b.values[offsetB + j];
    sum += d * d;
  }
  return sum;
}
