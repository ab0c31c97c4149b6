// A Parquet part's row count read from its footer by a small Thrift compact reader: no apache-arrow or parquet-wasm, so
// compaction's planning on a worker's main thread never loads them (they cost ≈ 0.5–0.8 CPU s and ≈ 25 MB per thread).
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { ParquetReadError } from "./parquet-read-error.ts";

const PARQUET_MAGIC = "PAR1";

/**
 * A part's row count (FileMetaData.num_rows); undefined when the part is gone. Reads the last 8 bytes (the metadata's
 * length and "PAR1") and the metadata, through one file descriptor: a part renamed over meanwhile is read whole from
 * one version. Throws ParquetReadError for a file whose end is not a Parquet footer.
 */
export function partRowCount(path: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    // Deleted since it was listed (a merge's commit, forget): gone, as if it had not been there.
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    const size = fstatSync(fd).size;
    if (size < 12) throw new ParquetReadError(path, new Error(`${size} bytes: too short for a Parquet footer`));
    const end = readExactly(fd, 8, size - 8, path);
    if (end.toString("latin1", 4) !== PARQUET_MAGIC) throw new ParquetReadError(path, new Error("no Parquet footer at its end (no PAR1)"));
    const length = end.readUInt32LE(0);
    if (length + 12 > size) throw new ParquetReadError(path, new Error(`a footer of ${length} bytes in a file of ${size}`));
    try {
      return numRowsOfFileMetaData(readExactly(fd, length, size - 8 - length, path));
    } catch (error) {
      throw error instanceof ParquetReadError ? error : new ParquetReadError(path, error);
    }
  } finally {
    closeSync(fd);
  }
}

function readExactly(fd: number, length: number, position: number, path: string): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let at = 0;
  while (at < length) {
    const read = readSync(fd, bytes, at, length - at, position + at);
    if (read === 0) throw new ParquetReadError(path, new Error(`read ${at} of ${length} footer bytes`));
    at += read;
  }
  return bytes;
}

/** Thrift compact protocol type ids (as in a field header or a list header) (an object, not an enum: enums are not erasable TypeScript). */
const CompactType = {
  Stop: 0,
  BooleanTrue: 1,
  BooleanFalse: 2,
  Byte: 3,
  I16: 4,
  I32: 5,
  I64: 6,
  Double: 7,
  Binary: 8,
  List: 9,
  Set: 10,
  Map: 11,
  Struct: 12,
  Uuid: 13,
} as const;

/** FileMetaData's num_rows: field 3, an i64 (parquet.thrift). */
const NUM_ROWS_FIELD = 3;
/** FileMetaData's row_groups: field 4, a list of RowGroup structs (parquet.thrift). */
const ROW_GROUPS_FIELD = 4;

/**
 * FileMetaData.num_rows from the Thrift compact bytes of a Parquet footer's metadata. Fields before it (version, the
 * schema: a list of structs) are skipped by their types, whatever they hold; reading stops at num_rows.
 */
export function numRowsOfFileMetaData(metadata: Uint8Array): number {
  const reader = readerAtField(metadata, NUM_ROWS_FIELD, CompactType.I64, "num_rows");
  const rows = reader.zigzagBig();
  if (rows < 0n || rows > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`num_rows ${rows} is not a row count`);
  return Number(rows);
}

/** FileMetaData.row_groups' length from the Thrift compact bytes of a Parquet footer's metadata. */
export function rowGroupCountOfFileMetaData(metadata: Uint8Array): number {
  const reader = readerAtField(metadata, ROW_GROUPS_FIELD, CompactType.List, "row_groups");
  const header = reader.byte();
  return header >> 4 === 15 ? reader.size() : header >> 4;
}

/**
 * The number of row groups of a whole Parquet file's bytes, read from its footer (parquet-wasm 0.8 tells it only
 * through its asynchronous ParquetFile). Throws a plain Error for bytes whose end is not a Parquet footer.
 */
export function rowGroupCountOfParquet(bytes: Uint8Array): number {
  const size = bytes.length;
  if (size < 12) throw new Error(`${size} bytes: too short for a Parquet footer`);
  if (Buffer.from(bytes.buffer, bytes.byteOffset + size - 4, 4).toString("latin1") !== PARQUET_MAGIC) throw new Error("no Parquet footer at its end (no PAR1)");
  const length = new DataView(bytes.buffer, bytes.byteOffset + size - 8, 4).getUint32(0, true);
  if (length + 12 > size) throw new Error(`a footer of ${length} bytes in a file of ${size}`);
  return rowGroupCountOfFileMetaData(bytes.subarray(size - 8 - length, size - 8));
}

/** A reader just past the header of FileMetaData's field `fieldId` of `type`; the fields before it are skipped. */
function readerAtField(metadata: Uint8Array, fieldId: number, type: number, name: string): CompactReader {
  const reader = new CompactReader(metadata);
  let id = 0;
  for (;;) {
    const header = reader.byte();
    const fieldType = header & 0x0f;
    if (fieldType === CompactType.Stop) throw new Error(`the footer's metadata has no ${name}`);
    const delta = header >> 4;
    id = delta === 0 ? reader.zigzag() : id + delta;
    if (id === fieldId && fieldType === type) return reader;
    reader.skip(fieldType);
  }
}

/** Nesting deeper than this is not a Parquet footer (the schema is a flat list; its deepest struct is a few levels). */
const MAX_DEPTH = 64;

/** A cursor over Thrift compact bytes: reads varints and skips values of any type, bounds-checked. */
class CompactReader {
  private at = 0;
  constructor(private readonly bytes: Uint8Array) {}

  byte(): number {
    if (this.at >= this.bytes.length) throw new Error(`the footer's metadata ends early (at byte ${this.at})`);
    return this.bytes[this.at++];
  }

  /** An unsigned LEB128 varint of up to 64 bits. */
  varintBig(): bigint {
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = this.byte();
      value |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return value;
    }
    throw new Error(`a varint longer than 10 bytes at byte ${this.at}`);
  }

  /** A zigzag varint (i16, i32 and i64 alike). */
  zigzagBig(): bigint {
    const raw = this.varintBig();
    return (raw & 1n) === 0n ? raw >> 1n : -((raw + 1n) >> 1n);
  }

  zigzag(): number {
    return Number(this.zigzagBig());
  }

  /** A length or a count: an unsigned varint that must fit what is left of the bytes. */
  size(): number {
    const size = this.varintBig();
    if (size > BigInt(this.bytes.length - this.at)) throw new Error(`a length of ${size} past the footer's end (at byte ${this.at})`);
    return Number(size);
  }

  forward(length: number): void {
    if (this.at + length > this.bytes.length) throw new Error(`the footer's metadata ends early (at byte ${this.at})`);
    this.at += length;
  }

  /** Skips one value of `type` (a field's payload or a collection's element). */
  skip(type: number, depth = 0): void {
    if (depth > MAX_DEPTH) throw new Error(`values nested more than ${MAX_DEPTH} deep`);
    switch (type) {
      case CompactType.BooleanTrue:
      case CompactType.BooleanFalse:
        return; // A field's boolean is its header's type; skipElement reads a collection's boolean byte.
      case CompactType.Byte:
        return this.forward(1);
      case CompactType.I16:
      case CompactType.I32:
      case CompactType.I64:
        this.varintBig();
        return;
      case CompactType.Double:
        return this.forward(8);
      case CompactType.Uuid:
        return this.forward(16);
      case CompactType.Binary:
        return this.forward(this.size());
      case CompactType.List:
      case CompactType.Set: {
        const header = this.byte();
        const count = header >> 4 === 15 ? this.size() : header >> 4;
        for (let i = 0; i < count; i++) this.skipElement(header & 0x0f, depth + 1);
        return;
      }
      case CompactType.Map: {
        const count = this.size();
        if (count === 0) return;
        const types = this.byte();
        for (let i = 0; i < count; i++) {
          this.skipElement(types >> 4, depth + 1);
          this.skipElement(types & 0x0f, depth + 1);
        }
        return;
      }
      case CompactType.Struct:
        for (;;) {
          const header = this.byte();
          if ((header & 0x0f) === CompactType.Stop) return;
          if (header >> 4 === 0) this.varintBig(); // the field id in full, when not a delta
          this.skip(header & 0x0f, depth + 1);
        }
      default:
        throw new Error(`unknown Thrift compact type ${type} at byte ${this.at - 1}`);
    }
  }

  /** A collection's element: as a field's value, except that a boolean is a byte of its own. */
  private skipElement(type: number, depth: number): void {
    if (type === CompactType.BooleanTrue || type === CompactType.BooleanFalse) this.forward(1);
    else this.skip(type, depth);
  }
}
