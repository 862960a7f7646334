import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { pipeline, Transform, type Readable } from 'node:stream';
import { createGunzip, inflateRaw } from 'node:zlib';
import avro from 'avsc';
import type { RecordLocation } from '../model/index.js';
import { isJsonObjectOrArray, messageOf } from './envelope.js';
import { WardenError } from '../common/errors.js';

/** A capture path that cannot be read (missing, no permission): the user must fix the path. */
export class CaptureReadError extends WardenError {
  override name = 'CaptureReadError';
  readonly userFixable = true;
}

/** One body read from a capture file. */
export interface CaptureBody {
  body: Buffer | string;
  location: RecordLocation;
  /** Set when the bytes could not be read as a capture (corrupt gzip or Avro); the body is then dead-lettered with this reason. */
  unreadable?: string;
}

export interface CaptureFiles {
  /** Files to read, in a stable order: arguments as given, folder contents sorted. */
  files: string[];
  /** Files inside folders whose extension is not a capture format (README.md, …). */
  ignored: string[];
}

export interface ReadOptions {
  /** Text files larger than this are read line by line as NDJSON instead of as one body. */
  wholeFileLimit?: number;
  /** Avro blocks that inflate past this are unreadable (default MAX_AVRO_BLOCK_BYTES). */
  maxAvroBlockBytes?: number;
}

/** How many times a gzip capture may expand beyond its first GZIP_FREE_BYTES. */
export const MAX_GZIP_RATIO = 200;
const GZIP_FREE_BYTES = 64 * 1024 * 1024;
/** The longest NDJSON line read (an Event Hubs event is at most 1 MB); a longer one is one dead letter and reading goes on at the next line. */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;

/** Lines that are not a JSON object or array read before one that is: past this, a large text file is not NDJSON. */
const MAX_LEADING_BAD_LINES = 10;

/** Text files up to this size are one body (a JSON document or NDJSON); larger ones stream line by line. */
export const WHOLE_FILE_LIMIT = 64 * 1024 * 1024;

const TEXT_EXTENSIONS = new Set(['.json', '.ndjson', '.jsonl', '.log', '.txt', '.csv']);

function format(file: string): { gzip: boolean; avro: boolean; known: boolean } {
  const name = file.toLowerCase();
  const gzip = name.endsWith('.gz');
  const ext = extname(gzip ? name.slice(0, -3) : name);
  return { gzip, avro: ext === '.avro', known: ext === '.avro' || TEXT_EXTENSIONS.has(ext) };
}

/** Errors from the file system (as opposed to corrupt content) carry a syscall. */
function isFileSystemError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

function unreadablePath(path: string, err: unknown): CaptureReadError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'no such file or folder' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : messageOf(err);
  return new CaptureReadError(`cannot read ${path}: ${why}`);
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Expand files and folders (recursively, sorted by name for deterministic replays). */
export async function listCaptureFiles(paths: string[]): Promise<CaptureFiles> {
  const out: CaptureFiles = { files: [], ignored: [] };
  for (const path of paths) {
    const info = await stat(path).catch((err: unknown) => {
      throw unreadablePath(path, err);
    });
    if (info.isDirectory()) await walk(path, out);
    // A file named explicitly is read whatever its extension: as JSON or NDJSON unless it says avro.
    else if (info.isFile()) out.files.push(path);
    else throw new CaptureReadError(`cannot read ${path}: not a file or folder`);
  }
  return out;
}

async function walk(dir: string, out: CaptureFiles): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: unknown) => {
    throw unreadablePath(dir, err);
  });
  entries.sort((a, b) => byName(a.name, b.name));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    let isDir = entry.isDirectory();
    if (entry.isSymbolicLink()) {
      const target = await stat(path).catch((err: unknown) => {
        throw unreadablePath(path, err);
      });
      isDir = target.isDirectory();
    }
    if (isDir) await walk(path, out);
    else if (format(path).known) out.files.push(path);
    else out.ignored.push(path);
  }
}

/** Every body in the given files and folders, file by file, so large replays stream. */
export async function* readCaptures(paths: string[], options: ReadOptions = {}): AsyncGenerator<CaptureBody> {
  const { files } = await listCaptureFiles(paths);
  for (const file of files) yield* readCaptureFile(file, options);
}

/** The bodies of one capture file: an Event Hubs Capture Avro file gives one per Avro record. */
export function readCaptureFile(file: string, options: ReadOptions = {}): AsyncGenerator<CaptureBody> {
  const { gzip, avro: isAvro } = format(file);
  return isAvro ? readAvro(file, gzip, options.maxAvroBlockBytes ?? MAX_AVRO_BLOCK_BYTES) : readText(file, gzip, options.wholeFileLimit ?? WHOLE_FILE_LIMIT);
}

function open(file: string, gzip: boolean, last?: NodeJS.ReadWriteStream): Readable {
  const source = createReadStream(file);
  const stages: NodeJS.ReadWriteStream[] = gzip ? [createGunzip(), inflationLimit(source)] : [];
  if (last) stages.push(last);
  if (!stages.length) return source;
  // Errors of any stage surface on the last one, where the caller iterates; stopping early is not an error.
  return pipeline([source, ...stages], () => {}) as unknown as Readable;
}

/**
 * Stops a gzip stream that expands far more than logs do (JSON logs compress 5-20 times): a 61 KB
 * file of `{}` lines once expanded to 3.5 GB. Up to GZIP_FREE_BYTES anything goes.
 */
function inflationLimit(source: ReturnType<typeof createReadStream>): Transform {
  let inflated = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      inflated += chunk.length;
      if (inflated > GZIP_FREE_BYTES && inflated > MAX_GZIP_RATIO * source.bytesRead) {
        done(new GzipBombError(`it expands more than ${MAX_GZIP_RATIO} times (${source.bytesRead} bytes read gave ${inflated}): not a log capture`));
        return;
      }
      done(null, chunk);
    },
  });
}

/** Event Hubs Capture schema: SequenceNumber, Offset, EnqueuedTimeUtc, SystemProperties, Properties, Body. */
interface CaptureRecord {
  SequenceNumber?: unknown;
  Offset?: unknown;
  EnqueuedTimeUtc?: unknown;
  Body?: unknown;
}

/** The largest Avro block inflated by default: far above what Event Hubs Capture writes (blocks of events of at most 1 MB each). */
export const MAX_AVRO_BLOCK_BYTES = 256 * 1024 * 1024;

type Codec = (buf: Buffer, cb: (err: Error | null, data?: Buffer) => void) => void;

/** Avro codecs with inflation bounded: avsc's own deflate inflates without limit (a deflate bomb crashed the process). */
function avroCodecs(maxBlockBytes: number): Record<string, Codec> {
  return {
    null: (buf, cb) => cb(null, buf),
    deflate: (buf, cb) =>
      inflateRaw(buf, { maxOutputLength: maxBlockBytes }, (err, data) =>
        cb(err && new Error(`a block inflates past ${maxBlockBytes} bytes or is corrupt (${err.message})`), data),
      ),
  };
}

/** avsc's Tap methods that read or skip a value: every decoded value, header and block frame goes through them. */
const TAP_READS = [
  'readBoolean',
  'skipBoolean',
  'readInt',
  'readLong',
  'skipInt',
  'skipLong',
  'readFloat',
  'skipFloat',
  'readDouble',
  'skipDouble',
  'readFixed',
  'skipFixed',
  'readBytes',
  'skipBytes',
  'readString',
  'skipString',
] as const;

type Tap = { buf: Buffer } & Record<(typeof TAP_READS)[number], (...args: unknown[]) => unknown>;

/**
 * Bound the work of decoding what a tap holds: at most two reads per byte of it (each value but
 * an empty fixed takes a byte at least), so a corrupt count or length cannot make avsc loop past
 * the end of its bytes. A one-byte change in a sequence number once made a map count of 2^60 and
 * the decoder spun for good, holding the event loop. The budget starts again when the tap is
 * given other bytes (the next block, or more of the file while the header is read).
 */
function boundTapWork(tap: Tap): void {
  let buf: Buffer | undefined;
  let left = 0;
  for (const name of TAP_READS) {
    const read = tap[name];
    tap[name] = function (this: Tap, ...args: unknown[]) {
      if (this.buf !== buf) {
        buf = this.buf;
        left = 2 * buf.length + 64;
      }
      if (--left < 0)
        throw new AvroWorkError(`${buf.length} bytes of Avro ask for more than ${2 * buf.length + 64} reads to decode: a corrupt count or length`);
      return read.apply(this, args);
    };
  }
}

/**
 * avsc's BlockDecoder with the work of its header, block frames and records bounded (boundTapWork).
 * Its header and frames are read inside `_write`, where a throw would escape the stream: there the
 * error goes to the write's callback, and so to the pipeline.
 */
function boundedBlockDecoder(maxBlockBytes: number): InstanceType<typeof avro.streams.BlockDecoder> {
  const decoder = new avro.streams.BlockDecoder({ codecs: avroCodecs(maxBlockBytes) });
  const internals = decoder as unknown as { _tap: Tap; _blockTap: Tap } & Record<'_write' | '_writeChunk', WriteFn>;
  boundTapWork(internals._tap);
  boundTapWork(internals._blockTap);
  // avsc swaps `_write` for `_writeChunk` once the header is read: both are guarded.
  for (const name of ['_write', '_writeChunk'] as const) {
    const write = internals[name];
    internals[name] = function (this: unknown, chunk, encoding, cb) {
      try {
        write.call(this, chunk, encoding, cb);
      } catch (err) {
        if (!(err instanceof AvroWorkError)) throw err;
        cb(err);
      }
    };
  }
  return decoder;
}

type WriteFn = (chunk: Buffer, encoding: BufferEncoding, cb: (err?: Error | null) => void) => void;

/** Bytes avsc holds that are not a whole block yet: at the end of a file, a truncated capture (avsc drops them silently). */
function avroBytesLeft(decoder: unknown): number {
  const tap = (decoder as { _tap?: { buf?: Buffer; pos?: number } })._tap;
  return tap?.buf && typeof tap.pos === 'number' ? tap.buf.length - tap.pos : 0;
}

async function* readAvro(file: string, gzip: boolean, maxBlockBytes: number): AsyncGenerator<CaptureBody> {
  const decoder = boundedBlockDecoder(maxBlockBytes);
  const records = open(file, gzip, decoder);
  let n = 0;
  try {
    for await (const record of records as AsyncIterable<CaptureRecord>) {
      n++;
      // `line` is the 1-based Avro record number within the file.
      const location: RecordLocation = { file, line: n };
      if (typeof record.SequenceNumber === 'number') location.sequenceNumber = record.SequenceNumber;
      if (typeof record.Offset === 'string') location.offset = record.Offset;
      if (typeof record.EnqueuedTimeUtc === 'string') location.enqueuedTime = record.EnqueuedTimeUtc;
      const body = record.Body;
      if (Buffer.isBuffer(body) || typeof body === 'string') yield { body, location };
      else if (body === null) yield { body: '', location };
      else yield { body: '', location, unreadable: 'Avro record has no Body bytes: not an Event Hubs Capture file' };
    }
    const left = avroBytesLeft(decoder);
    if (left > 0)
      yield {
        body: '',
        location: { file, line: n + 1 },
        unreadable: `the file ends inside an Avro block (${left} bytes after record ${n}): a truncated capture, records from ${n + 1} on are lost`,
      };
  } catch (err) {
    if (isFileSystemError(err)) throw unreadablePath(file, err);
    // avsc reports damage as soon as it sees it, so intact records just before it in the same read
    // chunk are not read either; the reason names the first record not read.
    // avsc wraps a codec's error and keeps what happened as its cause.
    const cause = (err as { cause?: unknown })?.cause;
    yield {
      body: '',
      location: { file, line: n + 1 },
      unreadable: `cannot read Avro record ${n + 1} onwards: ${messageOf(err)}${cause === undefined ? '' : `: ${messageOf(cause)}`}`,
    };
  }
}

async function* readText(file: string, gzip: boolean, wholeFileLimit: number): AsyncGenerator<CaptureBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  let lineMode = false;
  let lineNo = 0;
  let ndjson = false;
  /** Lines before the first that is a JSON object or array: held until it comes (then read as the dead letters they are), or too many come without it. */
  let leading: CaptureBody[] = [];
  let partial: Buffer[] = [];
  let partialBytes = 0;

  // Splits complete lines out of a chunk; the tail waits for the next chunk (no quadratic re-copying).
  function* lines(chunk: Buffer): Generator<CaptureBody> {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      keep(chunk.subarray(start, nl));
      start = nl + 1;
      yield* line();
    }
    if (start < chunk.length) keep(chunk.subarray(start));
  }
  // Past MAX_LINE_BYTES a line's bytes are counted, not kept.
  function keep(piece: Buffer): void {
    partialBytes += piece.length;
    if (partialBytes <= MAX_LINE_BYTES) partial.push(piece);
    else partial = [];
  }
  function* line(): Generator<CaptureBody> {
    lineNo++;
    if (partialBytes > MAX_LINE_BYTES) {
      const bytes = partialBytes;
      partialBytes = 0;
      yield {
        body: '',
        location: { file, line: lineNo },
        unreadable: `line ${lineNo} is ${bytes} bytes, longer than the ${MAX_LINE_BYTES} a capture line may be`,
      };
      return;
    }
    partialBytes = 0;
    let text = (partial.length === 1 ? partial[0] : Buffer.concat(partial)).toString('utf8');
    partial = [];
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (!text.trim()) return;
    const body: CaptureBody = { body: text, location: { file, line: lineNo } };
    if (ndjson) {
      yield body;
      return;
    }
    // A first record cut short must not lose the file; a document that is not NDJSON is one dead letter, not one per line.
    leading.push(body);
    if (isJsonObjectOrArray(text)) {
      ndjson = true;
      yield* leading;
      leading = [];
    } else if (leading.length > MAX_LEADING_BAD_LINES) throw new NotNdjsonError();
  }

  try {
    for await (const chunk of open(file, gzip) as AsyncIterable<Buffer>) {
      if (lineMode) {
        yield* lines(chunk);
        continue;
      }
      chunks.push(chunk);
      size += chunk.length;
      if (size <= wholeFileLimit) continue;
      lineMode = true;
      for (const c of chunks.splice(0)) yield* lines(c);
    }
    if (!lineMode) yield { body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size), location: { file } };
    else {
      if (partialBytes) yield* line();
      if (leading.length) throw new NotNdjsonError();
    }
  } catch (err) {
    if (err instanceof NotNdjsonError) {
      yield {
        body: '',
        location: { file },
        unreadable: `file is larger than ${wholeFileLimit} bytes and is not NDJSON (one JSON value per line): split it into smaller files`,
      };
    } else if (isFileSystemError(err)) throw unreadablePath(file, err);
    else yield { body: '', location: lineMode ? { file, line: lineNo + 1 } : { file }, unreadable: `cannot read ${gzip ? 'gzip' : 'file'}: ${messageOf(err)}` };
  }
}

class GzipBombError extends WardenError {
  override name = 'GzipBombError';
  readonly userFixable = false;
}

class AvroWorkError extends WardenError {
  override name = 'AvroWorkError';
  readonly userFixable = false;
}

class NotNdjsonError extends WardenError {
  override name = 'NotNdjsonError';
  readonly userFixable = false;
}
