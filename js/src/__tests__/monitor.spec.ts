/**
 * @jest-environment jsdom
 */
import { SessionMonitor } from '../monitor';
import { IPollSettings, ISessionInfo, parseSessionInfo } from '../session';

import answers from './session-answers.json';

/** The poll's intervals, scaled down to milliseconds so that the test runs in real time. */
const FAST: IPollSettings = {
  interval: 40,
  errorInterval: 10,
  maxErrorInterval: 40,
  absentInterval: 1000
};

/** The server extension's answer (made by the Python side), `secondsLeft` before its age limit. */
function session(secondsLeft: number): ISessionInfo {
  return parseSessionInfo({
    ...answers['max-age'],
    seconds_left: secondsLeft,
    max_age_seconds_left: secondsLeft
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

async function until(condition: () => boolean, timeout = 2000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error('condition not met in time');
    }
    await sleep(5);
  }
}

describe('SessionMonitor', () => {
  let monitor: SessionMonitor | null = null;

  afterEach(() => {
    monitor?.dispose();
    monitor = null;
  });

  it('shows up in a session and notifies once per threshold', async () => {
    const fetch = jest.fn(async () => session(590));
    const notify = jest.fn();
    monitor = new SessionMonitor({ fetch, notify, settings: FAST });
    const activated = jest.fn();
    monitor.activeStateChanged.connect(activated);
    await monitor.start();
    await until(() => fetch.mock.calls.length >= 3);

    expect(monitor.inBinder).toBe(true);
    expect(activated).toHaveBeenCalledTimes(1);
    expect(monitor.info?.member).toBe('gesis');
    expect(monitor.secondsLeft).toBeLessThanOrEqual(590);
    expect(monitor.secondsLeft).toBeGreaterThan(585);
    // 590 s left: the 10-minute notification, once, however many polls follow
    expect(notify).toHaveBeenCalledTimes(1);
    expect(notify.mock.calls[0][0].member).toBe('gesis');
    expect(monitor.pollInterval).toBe(FAST.interval);
  });

  it('notifies again when the time left falls under the next threshold', async () => {
    let left = 590;
    const notify = jest.fn();
    monitor = new SessionMonitor({
      fetch: async () => session(left),
      notify,
      settings: FAST
    });
    await monitor.start();
    await until(() => notify.mock.calls.length === 1);
    left = 100;
    await until(() => notify.mock.calls.length === 2);
    expect(notify.mock.calls[1][1]).toBeLessThanOrEqual(100);
    await sleep(150);
    expect(notify).toHaveBeenCalledTimes(2);
  });

  it('stays hidden and polls slowly outside Binder or without the endpoint', async () => {
    const outside = jest.fn(async () =>
      parseSessionInfo({ in_binder: false, reason: 'no BINDER_* variables' })
    );
    const notify = jest.fn();
    monitor = new SessionMonitor({ fetch: outside, notify, settings: FAST });
    await monitor.start();
    await until(() => outside.mock.calls.length === 1);
    await sleep(100);
    expect(monitor.inBinder).toBe(false);
    expect(monitor.pollInterval).toBe(FAST.absentInterval);
    expect(outside).toHaveBeenCalledTimes(1);
    monitor.dispose();

    const missing = jest.fn(async () => null);
    monitor = new SessionMonitor({ fetch: missing, notify, settings: FAST });
    await monitor.start();
    await until(() => missing.mock.calls.length === 1);
    await sleep(20);
    expect(monitor.inBinder).toBe(false);
    expect(monitor.info).toBeNull();
    expect(monitor.pollInterval).toBe(FAST.absentInterval);
    expect(notify).not.toHaveBeenCalled();
  });

  it('backs off on errors, keeps the last answer, recovers', async () => {
    let failing = false;
    const intervals: number[] = [];
    const warn = jest
      .spyOn(console, 'warn')
      .mockImplementation(() => undefined);
    const fetch = jest.fn(async () => {
      if (failing) {
        throw new Error('503');
      }
      return session(3000);
    });
    monitor = new SessionMonitor({ fetch, notify: jest.fn(), settings: FAST });
    monitor.changed.connect(m => intervals.push(m.pollInterval));
    await monitor.start();
    await until(() => fetch.mock.calls.length === 1);
    failing = true;
    await until(() => fetch.mock.calls.length >= 5);
    expect(monitor.inBinder).toBe(true); // the last answer still holds
    expect(new Set(intervals)).toEqual(new Set([40, 10, 20]));
    expect(monitor.pollInterval).toBe(FAST.maxErrorInterval);
    failing = false;
    await until(
      () =>
        monitor?.pollInterval === FAST.interval && fetch.mock.calls.length >= 7
    );
    expect(warn).toHaveBeenCalled();
    warn.mockRestore();
  });

  it('stops polling when disposed', async () => {
    const fetch = jest.fn(async () => session(3000));
    monitor = new SessionMonitor({ fetch, notify: jest.fn(), settings: FAST });
    await monitor.start();
    await until(() => fetch.mock.calls.length >= 2);
    monitor.dispose();
    const calls = fetch.mock.calls.length;
    await sleep(150);
    expect(fetch.mock.calls.length).toBe(calls);
    expect(monitor.isDisposed).toBe(true);
  });
});
