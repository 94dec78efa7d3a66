/**
 * The session model: what the server extension answers and the pure logic built on it.
 *
 * No JupyterLab import here on purpose: everything in this module is plain data in, plain
 * data out, so that jest can test it without a browser or a running JupyterLab.
 */

/**
 * Why the session will be stopped first, as predicted by the server extension.
 */
export type CullReason = 'idle' | 'max-age' | 'cpu';

/** How short time or memory runs: the same three words as the Python side. */
export type Level = 'ok' | 'warning' | 'danger';

/** Under `minutes` left, the time level is `level` (largest first, as the server sends them). */
export interface IThreshold {
  minutes: number;
  level: Level;
}

/** The texts that name the time left, with `{time_left}` where the countdown goes. */
export interface ILiveText {
  summary: string;
  time: string | null;
  details: string[];
  notification: string | null;
}

/** A link that opens the repository again: "Open this exact commit again", "Open the latest". */
export interface IRelaunchLink {
  label: string;
  /** Always an http(s) link: any other is dropped when the answer is read. */
  url: string;
  /** What it opens: "commit 4f1ab2c9d0e1, as in this session (a persistent link)". */
  hint: string;
}

/**
 * The words the session is shown with, written once by the server extension
 * (`binderfed_sdk._format`): the status bar shows them as they are.
 */
export interface IDisplay {
  title: string;
  member: string;
  time_left: string | null;
  cull_reason: string | null;
  time: string | null;
  memory: string | null;
  /** One line: `gesis · 11 min 40 s left if nothing runs · 1.1 / 2.0 GiB`. */
  summary: string;
  warnings: string[];
  details: string[];
  notification: string | null;
  live: ILiveText;
  /** Open this exact commit again, open the latest (http(s) only). */
  links: IRelaunchLink[];
}

/**
 * The answer of `GET <baseUrl>binderfed/session` (served by the `binderfed_jupyter`
 * server extension): the reading, its levels and its display strings. The front end only
 * counts `seconds_left` down between two polls.
 */
export interface ISessionInfo {
  /** Whether this Jupyter server runs inside a Binder session. */
  in_binder: boolean;
  /** Why the server thinks it is not in a Binder session. */
  reason: string | null;
  /** The federation member serving the session, e.g. `gesis`. */
  member: string | null;
  /** A link that launches the same repository at the same ref again (http(s) only). */
  persistent_link: string | null;
  /** A link that launches the newest version of the repository (http(s) only). */
  latest_link: string | null;
  /** When the session is predicted to stop, in seconds from the answer. */
  seconds_left: number | null;
  cull_reason: CullReason | null;
  memory_level: Level;
  time_level: Level;
  /** The worse of the two. */
  level: Level;
  /** The thresholds the countdown takes its level from. */
  time_thresholds: IThreshold[];
  display: IDisplay;
}

/** Where a live text takes the time left. */
export const TIME_LEFT = '{time_left}';

const LEVELS: readonly Level[] = ['ok', 'warning', 'danger'];

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isLevel(value: unknown): value is Level {
  return LEVELS.includes(value as Level);
}

function isObject(value: unknown): value is { [key: string]: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function strings(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((item): item is string => typeof item === 'string')
    : [];
}

function textOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function parseLive(raw: unknown): ILiveText {
  const live = isObject(raw) ? raw : {};
  return {
    summary: typeof live.summary === 'string' ? live.summary : '',
    time: textOrNull(live.time),
    details: strings(live.details),
    notification: textOrNull(live.notification)
  };
}

/** The labels of the relaunch links, for an answer that names none (older server). */
export const EXACT_LABEL = 'Open this exact commit again';
export const LATEST_LABEL = 'Open the latest';

/**
 * The relaunch links of an answer: its `display.links` (http(s) only, each link once), or,
 * from a server that sends none, its `persistent_link` and `latest_link`.
 */
function parseLinks(
  raw: unknown,
  persistent: string | null,
  latest: string | null
): IRelaunchLink[] {
  const links: IRelaunchLink[] = [];
  const add = (label: unknown, url: unknown, hint: unknown): void => {
    const link = httpLink(url);
    if (
      typeof label === 'string' &&
      label !== '' &&
      link !== null &&
      !links.some(known => known.url === link)
    ) {
      links.push({
        label,
        url: link,
        hint: typeof hint === 'string' ? hint : ''
      });
    }
  };
  if (Array.isArray(raw)) {
    for (const item of raw) {
      if (isObject(item)) {
        add(item.label, item.url, item.hint);
      }
    }
    return links;
  }
  add(EXACT_LABEL, persistent, '');
  add(LATEST_LABEL, latest, '');
  return links;
}

/** The display strings; an answer inside Binder without them is refused. */
function parseDisplay(
  value: unknown,
  required: boolean,
  persistent: string | null = null,
  latest: string | null = null
): IDisplay {
  const valid = isObject(value) && typeof value.summary === 'string';
  if (!valid && required) {
    throw new Error(
      'binderfed: the session answer has no display strings (server extension too old?)'
    );
  }
  const raw = valid ? (value as { [key: string]: unknown }) : {};
  const summary = textOrNull(raw.summary) ?? '';
  return {
    title: textOrNull(raw.title) ?? summary,
    member: textOrNull(raw.member) ?? '',
    time_left: textOrNull(raw.time_left),
    cull_reason: textOrNull(raw.cull_reason),
    time: textOrNull(raw.time),
    memory: textOrNull(raw.memory),
    summary,
    warnings: strings(raw.warnings),
    details: strings(raw.details),
    notification: textOrNull(raw.notification),
    live: parseLive(raw.live),
    links: parseLinks(raw.links, persistent, latest)
  };
}

/**
 * `value` when it is an absolute http(s) URL with a host, else null: the only links the
 * status bar ever renders (a `javascript:` or `data:` link from a broken or hostile answer
 * is dropped). Whitespace and control characters are refused outright: the URL parser
 * would strip some of them, and the link would not be the one shown.
 */
export function httpLink(value: unknown): string | null {
  if (typeof value !== 'string' || value === '') {
    return null;
  }
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f-\u009f]/.test(value)) {
    return null;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  const http = url.protocol === 'http:' || url.protocol === 'https:';
  return http && url.hostname !== '' ? value : null;
}

/**
 * Check the shape of a decoded answer: an object with a boolean `in_binder` and, inside
 * Binder, its display strings. Values of the wrong type are dropped, not trusted.
 */
export function parseSessionInfo(data: unknown): ISessionInfo {
  if (!isObject(data)) {
    throw new Error('binderfed: the session answer is not a JSON object');
  }
  if (typeof data.in_binder !== 'boolean') {
    throw new Error('binderfed: the session answer has no boolean in_binder');
  }
  const reason = data.cull_reason;
  const thresholds = Array.isArray(data.time_thresholds)
    ? data.time_thresholds.filter(
        (item): item is IThreshold =>
          isObject(item) && isNumber(item.minutes) && isLevel(item.level)
      )
    : [];
  const level = (key: string): Level =>
    isLevel(data[key]) ? (data[key] as Level) : 'ok';
  const persistent = httpLink(data.persistent_link);
  const latest = httpLink(data.latest_link);
  return {
    in_binder: data.in_binder,
    reason: textOrNull(data.reason),
    member: textOrNull(data.member),
    persistent_link: persistent,
    latest_link: latest,
    seconds_left: isNumber(data.seconds_left) ? data.seconds_left : null,
    cull_reason:
      reason === 'idle' || reason === 'max-age' || reason === 'cpu'
        ? reason
        : null,
    memory_level: level('memory_level'),
    time_level: level('time_level'),
    level: level('level'),
    time_thresholds: thresholds.map(({ minutes, level }) => ({
      minutes,
      level
    })),
    display: parseDisplay(data.display, data.in_binder, persistent, latest)
  };
}

/**
 * The twin of Python's `binderfed_sdk._format.format_duration`, for the countdown between
 * two polls (jest checks it against vectors made from the Python one): rounded down,
 * `45 s`, `11 min 40 s`, `10 min`, `3 h 05 min`.
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) {
    return '?';
  }
  const whole = Math.max(0, Math.floor(seconds));
  if (whole < 60) {
    return `${whole} s`;
  }
  const pad = (n: number): string => n.toString().padStart(2, '0');
  if (whole < 3600) {
    const rest = whole % 60;
    const minutes = Math.floor(whole / 60);
    return rest ? `${minutes} min ${pad(rest)} s` : `${minutes} min`;
  }
  const hours = Math.floor(whole / 3600);
  return `${hours} h ${pad(Math.floor((whole % 3600) / 60))} min`;
}

/** A live text with the time left filled in. */
export function fillTimeLeft(template: string, secondsLeft: number): string {
  return template.split(TIME_LEFT).join(formatDuration(secondsLeft));
}

/**
 * The seconds left at `nowMs`, counted down locally from the last answer, received at
 * `receivedAtMs` (the browser's clock: no skew against the server's). Null when the server
 * predicts no stop.
 */
export function secondsLeftAt(
  info: ISessionInfo,
  receivedAtMs: number,
  nowMs: number
): number | null {
  if (info.seconds_left === null) {
    return null;
  }
  const elapsed = Math.max(0, (nowMs - receivedAtMs) / 1000);
  return Math.max(0, info.seconds_left - elapsed);
}

/** The notification thresholds (minutes) of an answer, largest first. */
export function warnMinutesOf(info: ISessionInfo): number[] {
  return info.time_thresholds.map(({ minutes }) => minutes);
}

/**
 * The level as the time left counts down: the level of the smallest threshold it is under,
 * the worse of that and the memory level of the answer. At the answer's own `seconds_left`
 * it is the answer's `level`.
 */
export function liveLevel(
  info: ISessionInfo,
  secondsLeft: number | null
): Level {
  if (!info.in_binder) {
    return 'ok';
  }
  let time: Level = 'ok';
  if (secondsLeft !== null) {
    for (const threshold of info.time_thresholds) {
      if (secondsLeft < threshold.minutes * 60) {
        time = threshold.level;
      }
    }
  }
  return LEVELS.indexOf(time) >= LEVELS.indexOf(info.memory_level)
    ? time
    : info.memory_level;
}

/** What the status item shows: the answer's words, the time left counted down. */
export interface IStatusView {
  text: string;
  details: string[];
  level: Level;
  notification: string | null;
}

/** The status item's words at `secondsLeft` (null: as the answer said them). */
export function statusView(
  info: ISessionInfo,
  secondsLeft: number | null
): IStatusView {
  const { display } = info;
  if (secondsLeft === null || info.seconds_left === null) {
    return {
      text: display.summary,
      details: display.details,
      level: liveLevel(info, info.seconds_left),
      notification: display.notification
    };
  }
  const live = display.live;
  return {
    text: fillTimeLeft(live.summary, secondsLeft),
    details: live.details.map(line => fillTimeLeft(line, secondsLeft)),
    level: liveLevel(info, secondsLeft),
    notification:
      live.notification === null
        ? null
        : fillTimeLeft(live.notification, secondsLeft)
  };
}

/**
 * Which notifications are due: the thresholds (minutes) at or below which the time left
 * has fallen, that were not yet notified. Thresholds already notified are re-armed when
 * the time left climbs back well above them (activity resets the idle timer); the returned
 * `notified` is the new set to keep.
 *
 * Several thresholds can fall due at once (a session first seen with 1 minute left): the
 * caller shows one notification, for the most urgent (`due[0]`, the smallest).
 */
export function dueNotifications(
  warnMinutes: readonly number[],
  secondsLeft: number | null,
  notified: ReadonlySet<number>
): { due: number[]; notified: Set<number> } {
  const next = new Set(notified);
  if (secondsLeft === null) {
    return { due: [], notified: next };
  }
  const due: number[] = [];
  for (const minutes of warnMinutes) {
    const threshold = minutes * 60;
    if (secondsLeft <= threshold) {
      if (!next.has(minutes)) {
        due.push(minutes);
        next.add(minutes);
      }
    } else if (secondsLeft > threshold + REARM_MARGIN_SECONDS) {
      next.delete(minutes);
    }
  }
  due.sort((a, b) => a - b);
  return { due, notified: next };
}

/** How far above a threshold the time left must climb before it is notified again. */
export const REARM_MARGIN_SECONDS = 120;

/** The settings of the poll. */
export interface IPollSettings {
  /** Normal interval in a Binder session (ms). */
  interval: number;
  /** First interval after an error (ms); doubles after each further error. */
  errorInterval: number;
  /** Bound of the error backoff (ms). */
  maxErrorInterval: number;
  /** Interval outside a Binder session or without the endpoint (ms). */
  absentInterval: number;
}

export const DEFAULT_POLL: IPollSettings = {
  interval: 30_000,
  errorInterval: 10_000,
  maxErrorInterval: 300_000,
  absentInterval: 900_000
};

/** The outcome of one poll. */
export type PollOutcome = 'session' | 'absent' | 'error';

/**
 * The delay before the next poll: the normal interval after an answer, slow outside Binder
 * (or without the endpoint), 10 s doubling per consecutive error up to 5 min otherwise.
 */
export function nextPollInterval(
  outcome: PollOutcome,
  consecutiveErrors: number,
  settings: IPollSettings = DEFAULT_POLL
): number {
  switch (outcome) {
    case 'session': {
      return settings.interval;
    }
    case 'absent': {
      return settings.absentInterval;
    }
    case 'error': {
      const doublings = Math.max(0, consecutiveErrors - 1);
      return Math.min(
        settings.maxErrorInterval,
        settings.errorInterval * 2 ** Math.min(doublings, 30)
      );
    }
  }
}
