// Sealed batches as Arrow tables, and Parquet through Arrow IPC + parquet-wasm: the zstd path, loaded on first use.
//
// Why loaded on demand: apache-arrow and parquet-wasm (a 5 MB WebAssembly module compiled when imported) cost each
// thread that imports them ≈ 0.5–0.8 CPU s. The default codecs (snappy, none) never need them, and the sink's encoder
// threads start with the first row, inside the run: they competed with the pipeline thread for the cores. The packages
// are imported dynamically here (not statically in a lazily imported module): a bundler hoists static imports of
// external packages to the top of a bundle without code splitting, the worker threads' bundles among them.
import type * as Arrow from "apache-arrow";
import type * as ParquetWasm from "parquet-wasm";
import type { EncodeOptions, SealedBatch, SealedColumn } from "./parquet-encoder.ts";
import { rowGroupCountOfParquet } from "./parquet-footer.ts";
import { readingParquet } from "./parquet-read-error.ts";
import type { ColumnSpec, ColumnType } from "./table.ts";

export interface ArrowParquet {
  arrow: typeof Arrow;
  wasm: typeof ParquetWasm;
}

let loading: Promise<void> | undefined;
let loaded: ArrowParquet | undefined;

/** Loads apache-arrow and parquet-wasm once per thread; the functions below need it done. */
export function loadArrowParquet(): Promise<void> {
  loading ??= Promise.all([import("apache-arrow"), import("parquet-wasm")]).then(([arrow, wasm]) => {
    loaded = { arrow, wasm };
  });
  return loading;
}

/** The modules loadArrowParquet loaded (it must have resolved): for code that runs on threads that load them on demand. */
export function loadedArrowParquet(): ArrowParquet {
  if (loaded === undefined) throw new Error("apache-arrow and parquet-wasm are not loaded yet: await loadArrowParquet() first");
  return loaded;
}

/**
 * A Parquet file's rows as Arrow tables of at most `batchSize` rows, decoded one row group at a time, with only
 * `columns` (all when undefined; each must be in the file) kept by Arrow's select. Errors name `path`
 * (ParquetReadError). The caller loads the modules (loadArrowParquet) and may stop early: the row group's WebAssembly
 * memory is freed either way.
 *
 * The one way clickpipe decodes a Parquet file's data pages: parquet-wasm's synchronous readParquet, one row group per
 * call. Its asynchronous ParquetFile (read, stream) panics on a corrupt data page inside a promise callback (0.8.0):
 * an uncaught WebAssembly `unreachable` that kills the process and names no file, where readParquet throws.
 * readParquet ignores `columns` (0.8.0), so a row group is decoded whole; the row group count comes from the footer.
 */
export async function* parquetRowGroupBatches(
  path: string,
  bytes: Uint8Array,
  columns: readonly string[] | undefined,
  batchSize: number,
): AsyncGenerator<Arrow.Table> {
  const { arrow, wasm } = loadedArrowParquet();
  const rowGroups = await readingParquet(path, () => rowGroupCountOfParquet(bytes));
  for (let rowGroup = 0; rowGroup < rowGroups; rowGroup++) {
    const table = await readingParquet(path, () => wasm.readParquet(bytes, { rowGroups: [rowGroup], batchSize }));
    try {
      for (let index = 0; index < table.numBatches; index++) {
        const batch = arrow.tableFromIPC(table.recordBatch(index)!.intoIPCStream());
        yield columns === undefined ? batch : batch.select(columns as string[]);
      }
    } finally {
      table.free();
    }
  }
}

/** The Arrow type each column type is written as; timestamps carry "UTC" so Parquet marks them isAdjustedToUTC. */
function arrowTypeOf(arrow: typeof Arrow, type: ColumnType): Arrow.DataType {
  switch (type) {
    case "string":
      return new arrow.Utf8();
    case "int32":
      return new arrow.Int32();
    case "int64":
      return new arrow.Int64();
    case "float64":
      return new arrow.Float64();
    case "bool":
      return new arrow.Bool();
    case "timestamp":
      return new arrow.TimestampMillisecond("UTC");
    case "date":
      return new arrow.DateDay();
    case "list<string>":
      return new arrow.List(new arrow.Field("item", new arrow.Utf8(), true));
  }
}

function arrowSchemaOf(arrow: typeof Arrow, columns: readonly ColumnSpec[]): Arrow.Schema {
  return new arrow.Schema(columns.map((c) => new arrow.Field(c.name, arrowTypeOf(arrow, c.type), c.nullable !== false)));
}

/** A sealed column with its strings in plain form (a copy where they are in dictionary form): what Arrow reads. */
function plainStringsOf(column: SealedColumn): SealedColumn {
  const { ids, entryOffsets } = column;
  if (ids === undefined || entryOffsets === undefined) return column;
  const entries = column.values as Uint8Array;
  let bytes = 0;
  for (const id of ids) if (id >= 0) bytes += entryOffsets[id + 1] - entryOffsets[id];
  const values = new Uint8Array(bytes);
  const offsets = new Int32Array(ids.length + 1);
  let at = 0;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id >= 0) {
      values.set(entries.subarray(entryOffsets[id], entryOffsets[id + 1]), at);
      at += entryOffsets[id + 1] - entryOffsets[id];
    }
    offsets[i + 1] = at;
  }
  const { ids: _ids, entryOffsets: _entryOffsets, ...rest } = column;
  return column.offsets === undefined ? { ...rest, values, offsets } : { ...rest, values, itemOffsets: offsets };
}

function arrowDataOf(arrow: typeof Arrow, column: SealedColumn, field: Arrow.Field, length: number): Arrow.Data {
  const sealed = plainStringsOf(column);
  const common = { length, nullCount: sealed.nullCount, nullBitmap: sealed.validity };
  const type = field.type as Arrow.DataType;
  if (type instanceof arrow.Utf8) {
    return arrow.makeData({ ...common, type, valueOffsets: sealed.offsets!, data: sealed.values as Uint8Array });
  }
  if (type instanceof arrow.List) {
    const itemCount = sealed.itemOffsets!.length - 1;
    const child = arrow.makeData({
      type: new arrow.Utf8(),
      length: itemCount,
      nullCount: sealed.itemNullCount!,
      nullBitmap: sealed.itemValidity!,
      valueOffsets: sealed.itemOffsets!,
      data: sealed.values as Uint8Array,
    });
    return arrow.makeData({ ...common, type, valueOffsets: sealed.offsets!, child });
  }
  return arrow.makeData({ ...common, type, data: sealed.values } as never);
}

/** An Arrow table with exactly the declared columns, in order, and their declared nullability. */
export function sealedBatchToArrow(batch: SealedBatch): Arrow.Table {
  const { arrow } = loadedArrowParquet();
  const schema = arrowSchemaOf(arrow, batch.columns);
  const children = batch.data.map((column, i) => arrowDataOf(arrow, column, schema.fields[i], batch.length));
  const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length: batch.length, nullCount: 0, children });
  return new arrow.Table(schema, [new arrow.RecordBatch(schema, struct)]);
}

/** Parquet file bytes written by parquet-wasm from the batch's Arrow IPC stream. */
export function encodeWithParquetWasm(batch: SealedBatch, options: EncodeOptions): Uint8Array {
  const { arrow, wasm } = loadedArrowParquet();
  const compression = { zstd: wasm.Compression.ZSTD, snappy: wasm.Compression.SNAPPY, none: wasm.Compression.UNCOMPRESSED }[options.compression];
  const table = wasm.Table.fromIPCStream(arrow.tableToIPC(sealedBatchToArrow(batch), "stream"));
  let builder = new wasm.WriterPropertiesBuilder().setCompression(compression).setMaxRowGroupSize(options.rowGroupSize).setCreatedBy("clickpipe");
  // arrow-rs leaves NaN out of min/max; DuckDB, which orders NaN above +Infinity, then prunes row groups whose NaN
  // rows match (`WHERE x > 10`). Such a column gets no statistics, as our own writer gives its chunks holding a NaN.
  batch.columns.forEach((column, i) => {
    if (column.type === "float64" && holdsNaN(batch.data[i])) builder = builder.setColumnStatisticsEnabled(column.name, wasm.EnabledStatistics.None);
  });
  return wasm.writeParquet(table, builder.build());
}

/** Whether a float64 column has a present NaN. */
function holdsNaN(column: SealedColumn): boolean {
  const values = column.values as Float64Array;
  const validity = column.validity;
  for (let i = 0; i < values.length; i++) {
    if (values[i] !== values[i] && (column.nullCount === 0 || (validity[i >> 3] & (1 << (i & 7))) !== 0)) return true;
  }
  return false;
}
