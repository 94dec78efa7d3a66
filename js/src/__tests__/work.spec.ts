import {
  changesView,
  chartDataUrl,
  DEFAULT_ZIP_NAME,
  downloadMessage,
  downloadWork,
  IChanges,
  parseChanges,
  parseMemoryHistory,
  zipName
} from '../work';

const MIB = 2 ** 20;

function changes(overrides: Partial<IChanges> = {}): IChanges {
  return parseChanges({
    count: 7,
    total_bytes: 3 * MIB + 512,
    limit_bytes: 200 * MIB,
    over_limit: false,
    message: null,
    truncated: false,
    since: '2026-12-02T14:00:00+00:00',
    files: [
      { path: 'analysis.ipynb', size: 2 * MIB, mtime: 7 },
      { path: 'data/out.csv', size: MIB, mtime: 6 },
      { path: 'notes.md', size: 300, mtime: 5 },
      { path: 'a.txt', size: 10, mtime: 4 },
      { path: 'b.txt', size: 10, mtime: 3 },
      { path: 'c.txt', size: 92, mtime: 2 },
      { path: 'd.txt', size: 100, mtime: 1 }
    ],
    ...overrides
  });
}

/** A Response as `fetch` gives it (jsdom has none): status, headers, body. */
function response(
  status: number,
  body: string | Blob,
  headers: { [name: string]: string } = {}
): Response {
  const lower: { [name: string]: string } = {};
  for (const [name, value] of Object.entries(headers)) {
    lower[name.toLowerCase()] = value;
  }
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: status === 413 ? 'Payload Too Large' : '',
    headers: { get: (name: string) => lower[name.toLowerCase()] ?? null },
    text: async () => (typeof body === 'string' ? body : ''),
    blob: async () => (typeof body === 'string' ? new Blob([body]) : body)
  } as unknown as Response;
}

describe('parseChanges and changesView', () => {
  it('names the newest five with their sizes, the count and the total', () => {
    const view = changesView(changes());
    expect(view.summary).toBe(
      '7 files changed since the session started (3 MiB)'
    );
    expect(view.files).toEqual([
      { path: 'analysis.ipynb', size: '2 MiB' },
      { path: 'data/out.csv', size: '1 MiB' },
      { path: 'notes.md', size: '300 B' },
      { path: 'a.txt', size: '10 B' },
      { path: 'b.txt', size: '10 B' }
    ]);
    expect(view.more).toBe('and 2 more');
    expect(view.problem).toBeNull();
  });

  it('says when nothing changed, and one file in the singular', () => {
    expect(changesView(changes({ count: 0, files: [] })).summary).toBe(
      'No file changed since the session started.'
    );
    const one = changesView(
      changes({ count: 1, total_bytes: 300, files: [] }),
      5
    );
    expect(one.summary).toBe(
      '1 file changed since the session started (300 B)'
    );
    expect(one.more).toBe('and 1 more');
  });

  it("gives the server's words when the download would be refused", () => {
    const message = 'Your changed files come to 300 MiB: big.bin (300 MiB)';
    const view = changesView(
      changes({ over_limit: true, message, truncated: true })
    );
    expect(view.problem).toBe(message);
    expect(view.summary.startsWith('at least 7 files')).toBe(true);
    expect(
      changesView(changes({ over_limit: true, message: null })).problem
    ).toBe('More than the 200 MiB a download can hold.');
  });

  it('drops malformed files and refuses an answer without a count', () => {
    const parsed = parseChanges({
      count: 3,
      files: [
        { path: 'ok.txt', size: 1, mtime: 1 },
        { path: 42, size: 1, mtime: 1 },
        { path: 'neg.txt', size: -1, mtime: 1 },
        'nope'
      ]
    });
    expect(parsed.files.map(f => f.path)).toEqual(['ok.txt']);
    expect(parsed.total_bytes).toBe(0);
    expect(() => parseChanges({ files: [] })).toThrow(/count/);
    expect(() => parseChanges(null)).toThrow();
  });
});

describe('the memory chart', () => {
  it('is an image URL whatever the SVG holds', () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>';
    const url = chartDataUrl(svg);
    expect(url.startsWith('data:image/svg+xml;charset=utf-8,')).toBe(true);
    expect(url).not.toContain('<');
    expect(decodeURIComponent(url.split(',')[1])).toBe(svg);
  });

  it('needs a string svg; keeps well-formed samples', () => {
    const memory = parseMemoryHistory({
      svg: '<svg/>',
      samples: [[1, 2], [1, 'x'], [3]],
      limit: 2 * 2 ** 30,
      guarantee: null
    });
    expect(memory.samples).toEqual([[1, 2]]);
    expect(memory.limit).toBe(2 * 2 ** 30);
    expect(memory.guarantee).toBeNull();
    expect(() => parseMemoryHistory({ svg: 3 })).toThrow(/chart/);
  });
});

describe('zipName', () => {
  it.each([
    [
      'attachment; filename="binder-work-20261202-144000.zip"',
      'binder-work-20261202-144000.zip'
    ],
    ['attachment; filename=w.zip', 'w.zip'],
    ['attachment; filename="../../etc/passwd"', DEFAULT_ZIP_NAME],
    ['attachment; filename=".hidden"', DEFAULT_ZIP_NAME],
    ['attachment', DEFAULT_ZIP_NAME],
    [null, DEFAULT_ZIP_NAME]
  ])('%p gives %p', (header, name) => {
    expect(zipName(header)).toBe(name);
  });
});

describe('downloadWork', () => {
  it('saves first, then hands the zip to the browser under its name', async () => {
    const order: string[] = [];
    const saved: [Blob, string][] = [];
    const outcome = await downloadWork({
      saveAll: async () => {
        order.push('save');
      },
      request: async () => {
        order.push('request');
        return response(200, new Blob(['PK\u0003\u0004zip']), {
          'Content-Disposition': 'attachment; filename="binder-work-1.zip"'
        });
      },
      save: (blob, name) => {
        order.push('download');
        saved.push([blob, name]);
      }
    });
    expect(order).toEqual(['save', 'request', 'download']);
    expect(outcome).toEqual({
      ok: true,
      filename: 'binder-work-1.zip',
      bytes: 7,
      note: ''
    });
    expect(saved[0][1]).toBe('binder-work-1.zip');
    expect(downloadMessage(outcome)).toBe(
      'Downloaded binder-work-1.zip (7 B).'
    );
  });

  it("says the server's words on a 413, and saves nothing", async () => {
    const save = jest.fn();
    const message =
      'Your changed files come to 300 MiB, over the 200 MiB a download holds: big.bin (300 MiB).';
    const outcome = await downloadWork({
      saveAll: async () => undefined,
      request: async () => response(413, JSON.stringify({ message })),
      save
    });
    expect(outcome).toEqual({ ok: false, message });
    expect(save).not.toHaveBeenCalled();
  });

  it('says the status when the answer has no message, and a network failure', async () => {
    const html = await downloadWork({
      saveAll: async () => undefined,
      request: async () => response(502, '<html>bad gateway</html>'),
      save: jest.fn()
    });
    expect(html).toEqual({ ok: false, message: 'The download failed: 502.' });
    const down = await downloadWork({
      saveAll: async () => undefined,
      request: async () => {
        throw new Error('NetworkError');
      },
      save: jest.fn()
    });
    expect(down.ok).toBe(false);
    expect(downloadMessage(down)).toContain('NetworkError');
  });

  it('still downloads when saving failed, and says so', async () => {
    const outcome = await downloadWork({
      saveAll: async () => {
        throw new Error('read-only file');
      },
      request: async () => response(200, new Blob(['zip'])),
      save: jest.fn()
    });
    expect(outcome.ok).toBe(true);
    const text = downloadMessage(outcome);
    expect(text).toContain(`Downloaded ${DEFAULT_ZIP_NAME} (3 B).`);
    expect(text).toContain('could not be saved first (Error: read-only file)');
  });
});
