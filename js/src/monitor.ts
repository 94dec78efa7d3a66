import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import {
  DEFAULT_POLL,
  dueNotifications,
  IPollSettings,
  ISessionInfo,
  nextPollInterval,
  PollOutcome,
  secondsLeftAt,
  warnMinutesOf
} from './session';

/** How often the time left is counted down between two polls (ms). */
const COUNTDOWN_INTERVAL = 1000;

/**
 * Follows the Binder session: polls the server extension (with backoff on errors, slowly
 * outside Binder, paused while the tab is hidden), counts the time left down between polls
 * (the one thing the front end computes: every word and level comes from the answer) and
 * asks for a notification when one of the answer's `time_thresholds` is crossed.
 */
export class SessionMonitor implements IDisposable {
  constructor(options: SessionMonitor.IOptions) {
    this._fetch = options.fetch;
    this._notify = options.notify;
    this._settings = options.settings ?? DEFAULT_POLL;
    this._poll = new Poll({
      auto: false,
      factory: () => this._pollOnce(),
      frequency: {
        interval: this._settings.interval,
        backoff: false,
        max: this._maxInterval()
      },
      name: 'binderfed-jupyterlab:session',
      standby: 'when-hidden'
    });
  }

  /** The last answer, or null before the first one (or without the endpoint). */
  get info(): ISessionInfo | null {
    return this._info;
  }

  /** Whether the last answer said this is a Binder session. */
  get inBinder(): boolean {
    return this._info !== null && this._info.in_binder;
  }

  /** The seconds left now, counted down from the last answer; null if no stop is predicted. */
  get secondsLeft(): number | null {
    if (this._info === null) {
      return null;
    }
    return secondsLeftAt(this._info, this._receivedAt, Date.now());
  }

  /** The delay before the next poll (ms): normal, slow outside Binder, or backing off. */
  get pollInterval(): number {
    return this._poll.frequency.interval;
  }

  /** Emitted after each poll and each countdown step. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emitted when `inBinder` flips. */
  get activeStateChanged(): ISignal<this, void> {
    return this._activeStateChanged;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Start polling (the first poll runs at once). */
  async start(): Promise<void> {
    document.addEventListener('visibilitychange', this._onVisibility);
    await this._poll.start();
  }

  /** Poll now. */
  async refresh(): Promise<void> {
    await this._poll.refresh();
    await this._poll.tick;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    document.removeEventListener('visibilitychange', this._onVisibility);
    this._stopCountdown();
    this._poll.dispose();
    Signal.clearData(this);
  }

  private _maxInterval(): number {
    return Math.max(
      this._settings.interval,
      this._settings.maxErrorInterval,
      this._settings.absentInterval
    );
  }

  /** One poll; never rejects: the backoff is ours (deterministic, tested in session.ts). */
  private async _pollOnce(): Promise<void> {
    let outcome: PollOutcome;
    try {
      const info = await this._fetch();
      if (this._isDisposed) {
        return;
      }
      this._errors = 0;
      this._receivedAt = Date.now();
      this._info = info;
      outcome = info !== null && info.in_binder ? 'session' : 'absent';
    } catch (reason) {
      if (this._isDisposed) {
        return;
      }
      this._errors += 1;
      outcome = 'error';
      // keep the last answer: its prediction still holds and keeps counting down
      console.warn(
        `binderfed: session poll failed (${this._errors} in a row)`,
        reason
      );
    }
    this._poll.frequency = {
      interval: nextPollInterval(outcome, this._errors, this._settings),
      backoff: false,
      max: this._maxInterval()
    };
    if (this.inBinder) {
      this._startCountdown();
    } else {
      this._stopCountdown();
    }
    this._update();
  }

  private _update(): void {
    const active = this.inBinder;
    if (active !== this._wasActive) {
      this._wasActive = active;
      this._activeStateChanged.emit();
    }
    const info = this._info;
    if (info !== null && active) {
      const secondsLeft = this.secondsLeft;
      const { due, notified } = dueNotifications(
        warnMinutesOf(info),
        secondsLeft,
        this._notified
      );
      this._notified = notified;
      if (due.length > 0 && secondsLeft !== null) {
        this._notify(info, secondsLeft);
      }
    }
    this._changed.emit();
  }

  private _startCountdown(): void {
    if (this._countdown === null) {
      this._countdown = window.setInterval(
        () => this._update(),
        COUNTDOWN_INTERVAL
      );
    }
  }

  private _stopCountdown(): void {
    if (this._countdown !== null) {
      window.clearInterval(this._countdown);
      this._countdown = null;
    }
  }

  /** Back on the tab after a while: the last answer may be stale. */
  private _onVisibility = (): void => {
    if (document.visibilityState === 'visible' && this.inBinder) {
      void this._poll.refresh();
    }
  };

  private _fetch: () => Promise<ISessionInfo | null>;
  private _notify: (info: ISessionInfo, secondsLeft: number) => void;
  private _settings: IPollSettings;
  private _poll: Poll;
  private _info: ISessionInfo | null = null;
  private _receivedAt = 0;
  private _errors = 0;
  private _notified: Set<number> = new Set();
  private _countdown: number | null = null;
  private _wasActive = false;
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
  private _activeStateChanged = new Signal<this, void>(this);
}

export namespace SessionMonitor {
  export interface IOptions {
    /** Ask the server; null when the endpoint is missing. */
    fetch: () => Promise<ISessionInfo | null>;
    /** Tell the user the session stops soon (called once per threshold crossed). */
    notify: (info: ISessionInfo, secondsLeft: number) => void;
    settings?: IPollSettings;
  }
}
