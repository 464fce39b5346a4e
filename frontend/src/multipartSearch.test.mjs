// node --test: the boundary search against a naive scan on random and adversarial inputs.
import assert from "node:assert/strict";
import { test } from "node:test";
import findIndexOfString from "./multipartSearch.js";

function naive(data, str, offset = 0) {
  outer: for (let i = offset; i + str.length <= data.length; i += 1) {
    for (let j = 0; j < str.length; j += 1) {
      if (data[i + j] !== str.charCodeAt(j)) continue outer;
    }
    return i;
  }
  return -1;
}

const bytes = (text) => Uint8Array.from(text, (c) => c.charCodeAt(0));

test("finds the closing boundary of a multipart frame", () => {
  const boundary = "--5f3c2a9e1b7d4c6a8e0f2b4d6a8c0e1f";
  const payload = new Uint8Array(1 << 16).map((_, i) => (i * 7919) % 251);
  const head = bytes(`${boundary}\r\nContent-Type: application/octet-stream\r\n\r\n`);
  const tail = bytes(`\r\n${boundary}--\r\n`);
  const body = new Uint8Array(head.length + payload.length + tail.length);
  body.set(head, 0);
  body.set(payload, head.length);
  body.set(tail, head.length + payload.length);
  const header = findIndexOfString(body, "\r\n\r\n");
  assert.equal(header, naive(body, "\r\n\r\n"));
  assert.equal(findIndexOfString(body, boundary, header + 4), head.length + payload.length + 2);
});

test("agrees with a naive scan, offsets and edges included", () => {
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  for (let round = 0; round < 2000; round += 1) {
    const alphabet = round % 2 ? "ab" : "abc\r\n-";
    const pick = (n) => Array.from({ length: n }, () => alphabet[Math.floor(random() * alphabet.length)]).join("");
    const data = bytes(pick(Math.floor(random() * 60)));
    const str = pick(1 + Math.floor(random() * 5));
    const offset = Math.floor(random() * 70);
    assert.equal(findIndexOfString(data, str, offset), naive(data, str, offset), `${str} @ ${offset}`);
  }
});

test("absent token, empty data, token longer than data", () => {
  assert.equal(findIndexOfString(bytes("abcdef"), "xyz"), -1);
  assert.equal(findIndexOfString(new Uint8Array(0), "a"), -1);
  assert.equal(findIndexOfString(bytes("ab"), "abc"), -1);
  assert.equal(findIndexOfString(bytes("abcabc"), "abc", 1), 3);
  assert.equal(findIndexOfString(bytes("abcabc"), "c", 5), 5);
});
