// A drop-in for the DICOM image loader's findIndexOfString (wired in by vite.config.ts).
// The loader looks for the multipart boundary after each frame's part header by comparing
// every byte of the frame in JavaScript: half a megabyte per 512 x 512 slice, a second of
// main-thread time for a 200-slice series. Boyer-Moore-Horspool skips ahead by up to the
// boundary's length (about 40 bytes) per step and finds the same first occurrence.

/**
 * Index of the first occurrence of ``str`` (ASCII) in ``data`` at or after ``offset``, or -1.
 *
 * @param {Uint8Array} data
 * @param {string} str
 * @param {number} [offset]
 * @returns {number}
 */
export default function findIndexOfString(data, str, offset) {
  const start = offset || 0;
  const length = str.length;
  if (length === 0) {
    return -1; // as the loader's own: an empty token matches nothing
  }
  const pattern = new Uint8Array(length);
  for (let i = 0; i < length; i += 1) {
    pattern[i] = str.charCodeAt(i);
  }
  const last = length - 1;
  // How far the window may move when its last byte is b: from b's last place in the pattern
  // (its final byte excluded) to the end, or the whole length when b is not in it.
  const shift = new Int32Array(256).fill(length);
  for (let i = 0; i < last; i += 1) {
    shift[pattern[i]] = last - i;
  }
  for (let i = start; i + last < data.length; i += shift[data[i + last]]) {
    let j = last;
    while (j >= 0 && data[i + j] === pattern[j]) {
      j -= 1;
    }
    if (j < 0) {
      return i;
    }
  }
  return -1;
}
