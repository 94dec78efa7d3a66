import { formatBytes } from '../format';

// Made by the Python side from binderfed_sdk._format.format_bytes (tests/ts_fixtures.py;
// tests/test_display.py fails when the file is stale).
import bytesVectors from './bytes-vectors.json';

describe('formatBytes: the twin of format_bytes', () => {
  const vectors = Object.entries(bytesVectors as { [key: string]: string });

  it('has the vectors, ties of the rounding among them', () => {
    expect(vectors.length).toBeGreaterThan(200);
    expect(bytesVectors['1342177280.0']).toBe('1.2 GiB'); // 1.25: to even, not up
    expect(bytesVectors['1536']).toBe('2 KiB');
    expect(bytesVectors['2560']).toBe('2 KiB');
  });

  it.each(vectors)('writes %s bytes as %p', (bytes, text) => {
    expect(formatBytes(Number(bytes))).toBe(text);
  });

  it('writes "?" for what is unknown', () => {
    expect(formatBytes(null)).toBe('?');
    expect(formatBytes(undefined)).toBe('?');
    expect(formatBytes(Number.NaN)).toBe('?');
  });
});
