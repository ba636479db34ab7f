/** IPv4/IPv6 CIDR arithmetic, enough to tell whether an allow list got wider. */
interface Cidr {
  v6: boolean;
  bits: bigint;
  prefix: number;
}

export function parseCidr(text: string): Cidr | undefined {
  const [addr, prefixText] = text.trim().split("/");
  if (!addr) return undefined;
  const v6 = addr.includes(":");
  const bits = v6 ? parseV6(addr) : parseV4(addr);
  const width = v6 ? 128 : 32;
  const prefix = prefixText === undefined ? width : Number(prefixText);
  if (bits === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > width)
    return undefined;
  return { v6, bits, prefix };
}

function parseV4(addr: string): bigint | undefined {
  const parts = addr.split(".");
  if (parts.length !== 4) return undefined;
  let out = 0n;
  for (const p of parts) {
    const n = Number(p);
    if (!/^\d+$/.test(p) || n > 255) return undefined;
    out = (out << 8n) | BigInt(n);
  }
  return out;
}

function parseV6(addr: string): bigint | undefined {
  const [head, tail, ...rest] = addr.split("::");
  if (rest.length > 0) return undefined;
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail ? tail.split(":") : [];
  const missing = 8 - h.length - t.length;
  if (missing < 0 || (tail === undefined && missing !== 0)) return undefined;
  const groups = [...h, ...Array(missing).fill("0"), ...t];
  let out = 0n;
  for (const g of groups) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return undefined;
    out = (out << 16n) | BigInt(`0x${g}`);
  }
  return out;
}

/** Number of addresses a CIDR covers, as a power of two. */
export function cidrSizeBits(text: string): number | undefined {
  const c = parseCidr(text);
  return c ? (c.v6 ? 128 : 32) - c.prefix : undefined;
}

/** True when `outer` covers every address of `inner`. */
export function cidrContains(outer: string, inner: string): boolean {
  const o = parseCidr(outer);
  const i = parseCidr(inner);
  if (!o || !i || o.v6 !== i.v6 || o.prefix > i.prefix) return false;
  const width = BigInt(o.v6 ? 128 : 32);
  const shift = width - BigInt(o.prefix);
  return o.bits >> shift === i.bits >> shift;
}

/** `0.0.0.0/0`, `::/0`: every address. */
export function isEverything(text: string): boolean {
  return parseCidr(text)?.prefix === 0;
}

/** CIDRs of `after` not covered by any CIDR of `before`. */
export function widenedCidrs(before: string[], after: string[]): string[] {
  return after.filter((a) => !before.some((b) => cidrContains(b, a)));
}
