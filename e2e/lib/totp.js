// TOTP codes as an authenticator app computes them (RFC 6238: HMAC-SHA-1, 30-second steps,
// 6 digits), from the secret a test reads off the enrolment page, with node's crypto only.
import crypto from 'node:crypto';

/** RFC 4648 base32 (no padding) → bytes. */
export function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of text.replace(/[\s=]/g, '').toUpperCase()) {
    const idx = alphabet.indexOf(ch);
    if (idx === -1) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The 6-digit TOTP code of the 30-second step `offset` steps from now. */
export function totp(secret, offset = 0) {
  const step = Math.floor(Date.now() / 1000 / 30) + offset;
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = crypto.createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const at = mac[mac.length - 1] & 0x0f;
  const number = (mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000;
  return String(number).padStart(6, '0');
}

/** Waits for the next step when the current one ends within `margin` seconds. */
export async function freshStep(margin = 10) {
  const left = 30 - (Math.floor(Date.now() / 1000) % 30);
  if (left <= margin) await new Promise((r) => setTimeout(r, left * 1000 + 300));
}
