// A seeded pseudo-random generator (xoshiro128**, seeded by splitmix64): training, initialisation and shuffles are reproducible by seed.

export class SeededRandom {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  /**
   * The 128-bit state is two splitmix64 outputs of the seed taken as a 64-bit integer (two's complement), as
   * xoshiro's authors advise: splitmix64 is a bijection of 64-bit values, so distinct safe-integer seeds start from
   * distinct states (a 32-bit state cannot: seeds 2³² apart would share one).
   */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed ${seed} must be an integer within ±(2^53 − 1)`);
    let state = BigInt.asUintN(64, BigInt(seed));
    const words: number[] = [];
    for (let n = 0; n < 2; n++) {
      state = BigInt.asUintN(64, state + 0x9e3779b97f4a7c15n);
      let z = state;
      z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
      z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
      z ^= z >> 31n;
      words.push(Number(z & 0xffffffffn), Number(z >> 32n));
    }
    [this.#s0, this.#s1, this.#s2, this.#s3] = words;
  }

  /** Uniform in [0, 1), 32 bits. */
  next(): number {
    const s1 = this.#s1;
    const result = Math.imul(rotateLeft(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotateLeft(this.#s3, 11);
    return result / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A seed for a derived generator or a TensorFlow.js initialiser. */
  seed(): number {
    return this.int(2 ** 31);
  }

  /** A random permutation of 0..n−1 (Fisher–Yates). */
  permutation(n: number): Uint32Array {
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const swap = order[i];
      order[i] = order[j];
      order[j] = swap;
    }
    return order;
  }
}

function rotateLeft(x: number, bits: number): number {
  return (x << bits) | (x >>> (32 - bits));
}
