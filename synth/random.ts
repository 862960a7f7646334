/**
 * Seeded randomness for the synthetic tenant: the same seed gives byte-identical logs on every
 * machine, so the demo capture and benchmark inputs can be regenerated and compared.
 */

/** FNV-1a over the parts: turns a seed plus a label into an independent 32-bit seed. */
export function hashSeed(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    const s = String(part);
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    h ^= 0x2f; // separator, so ('ab','c') and ('a','bc') differ
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const HEX = '0123456789abcdef';
/** Number.toString(16) is slow on the hot path: look bytes up instead. */
const BYTE_HEX = Array.from({ length: 256 }, (_, i) => HEX[i >> 4] + HEX[i & 15]);

/** mulberry32: tiny, fast, good enough for test data (not for anything secret). */
export class Rng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A child stream that does not shift when the parent draws more or fewer numbers. */
  fork(label: string | number): Rng {
    return new Rng(hashSeed(this.seed, label));
  }

  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** Distinct items, in draw order. */
  sample<T>(items: readonly T[], count: number): T[] {
    const pool = items.slice();
    const out: T[] = [];
    for (let i = 0; i < count && pool.length; i++) out.push(pool.splice(Math.floor(this.next() * pool.length), 1)[0]);
    return out;
  }

  hex(length: number): string {
    let s = '';
    while (s.length < length) {
      const v = this.u32();
      s += BYTE_HEX[v & 255] + BYTE_HEX[(v >>> 8) & 255] + BYTE_HEX[(v >>> 16) & 255] + BYTE_HEX[v >>> 24];
    }
    return s.length === length ? s : s.slice(0, length);
  }

  /** A lower-case v4-shaped GUID. */
  guid(): string {
    const h = this.hex(32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${HEX[8 + (this.u32() & 3)]}${h.slice(17, 20)}-${h.slice(20)}`;
  }

  /** Exponentially distributed wait with the given mean (inter-arrival time of a steady rate). */
  exponential(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }

  /** Normal(mean, sd) by Box–Muller. */
  normal(mean: number, sd: number): number {
    const u = 1 - this.next();
    const v = this.next();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Poisson-distributed count: exact (Knuth) for small means, normal approximation above 30. */
  poisson(mean: number): number {
    if (mean <= 0) return 0;
    if (mean > 30) return Math.max(0, Math.round(this.normal(mean, Math.sqrt(mean))));
    const limit = Math.exp(-mean);
    let k = 0;
    let p = this.next();
    while (p > limit) {
      k++;
      p *= this.next();
    }
    return k;
  }

  /**
   * An address inside one of the given CIDR-free prefixes (`'203.0.113'`, `'10.20'`): the synthetic
   * tenant only uses documentation (RFC 5737) and private ranges, never someone's real address.
   */
  ipIn(prefix: string): string {
    const parts = prefix.split('.').length;
    let ip = prefix;
    for (let i = parts; i < 4; i++) ip += `.${i === 3 ? this.int(2, 254) : this.int(0, 255)}`;
    return ip;
  }
}
