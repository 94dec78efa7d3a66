/**
 * The work a cull would lose and the memory over time: the answers of `binderfed/changes`
 * and `binderfed/memory`, checked, and what the popup shows of them.
 *
 * No JupyterLab import here (as in session.ts): jest tests it without a browser.
 */
import { formatBytes } from './format';

/** One changed file, as `binderfed/changes` lists it (newest first). */
export interface IChangedFile {
  path: string;
  size: number;
  mtime: number;
}

/** The answer of `GET <baseUrl>binderfed/changes`. */
export interface IChanges {
  count: number;
  total_bytes: number;
  limit_bytes: number | null;
  over_limit: boolean;
  /** The server's words when the files are too big to download (the largest named). */
  message: string | null;
  /** The server stopped walking the home: there may be more files. */
  truncated: boolean;
  since: string | null;
  files: IChangedFile[];
}

/** The answer of `GET <baseUrl>binderfed/memory`: only the chart is shown. */
export interface IMemoryHistory {
  svg: string;
  samples: [number, number][];
  limit: number | null;
  guarantee: number | null;
}

/** How many files the popup names (the count and the total cover them all). */
export const SHOWN_FILES = 5;

function isObject(value: unknown): value is { [key: string]: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function count(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0
    ? value
    : null;
}

/** Check the shape of a decoded `changes` answer; malformed files are dropped. */
export function parseChanges(data: unknown): IChanges {
  if (!isObject(data) || count(data.count) === null) {
    throw new Error('binderfed: the changes answer has no count');
  }
  const files = Array.isArray(data.files)
    ? data.files.filter(
        (file): file is IChangedFile =>
          isObject(file) &&
          typeof file.path === 'string' &&
          count(file.size) !== null &&
          typeof file.mtime === 'number'
      )
    : [];
  return {
    count: count(data.count) ?? 0,
    total_bytes: count(data.total_bytes) ?? 0,
    limit_bytes: count(data.limit_bytes),
    over_limit: data.over_limit === true,
    message: typeof data.message === 'string' ? data.message : null,
    truncated: data.truncated === true,
    since: typeof data.since === 'string' ? data.since : null,
    files: files.map(({ path, size, mtime }) => ({ path, size, mtime }))
  };
}

/** What the popup says about the changed files. */
export interface IChangesView {
  /** `3 files changed since the session started (1.2 MiB)` */
  summary: string;
  /** The newest few: path and size. */
  files: { path: string; size: string }[];
  /** `and 12 more` (null: all are named) */
  more: string | null;
  /** Why the download would be refused (the server's words), else null. */
  problem: string | null;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The popup's words for a `changes` answer. */
export function changesView(
  changes: IChanges,
  shown: number = SHOWN_FILES
): IChangesView {
  if (changes.count === 0) {
    return {
      summary: 'No file changed since the session started.',
      files: [],
      more: null,
      problem: null
    };
  }
  const atLeast = changes.truncated ? 'at least ' : '';
  const files = changes.files.slice(0, shown);
  const rest = changes.count - files.length;
  return {
    summary:
      `${atLeast}${plural(changes.count, 'file', 'files')} changed since the ` +
      `session started (${formatBytes(changes.total_bytes)})`,
    files: files.map(file => ({
      path: file.path,
      size: formatBytes(file.size)
    })),
    more: rest > 0 ? `and ${rest} more` : null,
    problem: changes.over_limit
      ? (changes.message ??
        `More than the ${formatBytes(changes.limit_bytes)} a download can hold.`)
      : null
  };
}

/** Check the shape of a decoded `memory` answer; only a string `svg` is required. */
export function parseMemoryHistory(data: unknown): IMemoryHistory {
  if (!isObject(data) || typeof data.svg !== 'string') {
    throw new Error('binderfed: the memory answer has no chart');
  }
  const samples = Array.isArray(data.samples)
    ? data.samples.filter(
        (sample): sample is [number, number] =>
          Array.isArray(sample) &&
          sample.length === 2 &&
          count(sample[0]) !== null &&
          count(sample[1]) !== null
      )
    : [];
  return {
    svg: data.svg,
    samples: samples.map(([t, used]) => [t, used]),
    limit: count(data.limit),
    guarantee: count(data.guarantee)
  };
}

/**
 * The chart as an image URL: shown in an <img>, an SVG runs no script and loads nothing,
 * whatever it holds (never put into the page as markup).
 */
export function chartDataUrl(svg: string): string {
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

/** The fallback name of the zip, when the answer names none. */
export const DEFAULT_ZIP_NAME = 'binder-work.zip';

/**
 * The file name a `Content-Disposition` header gives (`attachment; filename="x.zip"`),
 * kept to letters, digits, `.`, `_` and `-` (no folder, no odd character reaches the
 * browser's save); the default otherwise.
 */
export function zipName(disposition: string | null): string {
  const match = /filename="?([^";]+)"?/i.exec(disposition ?? '');
  const name = match ? match[1].trim() : '';
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(name)
    ? name
    : DEFAULT_ZIP_NAME;
}

/** The outcome of one download: saved as `filename`, or refused with the server's words. */
export type DownloadOutcome =
  | { ok: true; filename: string; bytes: number; note: string }
  | { ok: false; message: string };

/** What the download needs from JupyterLab and the browser (passed in, for jest). */
export interface IDownloadSteps {
  /** Save every open, changed document (`docmanager:save-all`). */
  saveAll: () => Promise<unknown>;
  /** GET `binderfed/download` with the server's credentials. */
  request: () => Promise<Response>;
  /** Hand the zip to the browser's download. */
  save: (blob: Blob, filename: string) => void;
}

/** The server's words in a refusal (413: the largest files named), else the status. */
async function refusal(response: Response): Promise<string> {
  let text = '';
  try {
    text = await response.text();
    const data: unknown = JSON.parse(text);
    if (isObject(data) && typeof data.message === 'string' && data.message) {
      return data.message;
    }
  } catch {
    // not JSON: the status says enough
  }
  const reason = response.statusText ? ` ${response.statusText}` : '';
  return `The download failed: ${response.status}${reason}.`;
}

/**
 * Save the open documents, then download the work: the zip is fetched with the server's
 * credentials (a token in a header is not sent by a plain link) and handed to the browser.
 * Never rejects: a failure is an outcome with words to show.
 */
export async function downloadWork(
  steps: IDownloadSteps
): Promise<DownloadOutcome> {
  let unsaved = '';
  try {
    await steps.saveAll();
  } catch (reason) {
    // what is on disk is still worth downloading; say what was not saved
    unsaved = ` Some documents could not be saved first (${String(reason)}).`;
  }
  let response: Response;
  try {
    response = await steps.request();
  } catch (reason) {
    return {
      ok: false,
      message: `The download failed: ${String(reason)}.${unsaved}`
    };
  }
  if (!response.ok) {
    return { ok: false, message: (await refusal(response)) + unsaved };
  }
  let blob: Blob;
  try {
    blob = await response.blob();
  } catch (reason) {
    return {
      ok: false,
      message: `The download broke off: ${String(reason)}.${unsaved}`
    };
  }
  const filename = zipName(response.headers.get('Content-Disposition'));
  steps.save(blob, filename);
  return { ok: true, filename, bytes: blob.size, note: unsaved };
}

/** The words after a download. */
export function downloadMessage(outcome: DownloadOutcome): string {
  return outcome.ok
    ? `Downloaded ${outcome.filename} (${formatBytes(outcome.bytes)}).${outcome.note}`
    : outcome.message;
}
