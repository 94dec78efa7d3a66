import { Clipboard } from '@jupyterlab/apputils';
import { Popup, showPopup } from '@jupyterlab/statusbar';
import { Widget } from '@lumino/widgets';

import { SessionMonitor } from './monitor';
import { persistentLinkRow } from './link';
import { Level, statusView } from './session';

const LEVEL_CLASS: { [level in Level]: string | null } = {
  ok: null,
  warning: 'bf-warn',
  danger: 'bf-danger'
};

/**
 * The status-bar item: `gesis · 11 min 40 s left if nothing runs · 1.1 / 2.0 GiB`, amber or
 * red when time or memory runs short, details on hover (title) and on click (a popup with a
 * button copying the persistent link). The words are the server extension's (the same as
 * the CLI's and the widget's); only the time left is counted down here.
 */
export class SessionStatusItem extends Widget {
  constructor(monitor: SessionMonitor) {
    super();
    this._monitor = monitor;
    this.addClass('bf-SessionStatus');
    this.addClass('jp-mod-highlighted');
    this.node.setAttribute('role', 'button');
    this.node.tabIndex = 0;
    this._text = document.createElement('span');
    this._text.className = 'bf-SessionStatus-text';
    this.node.appendChild(this._text);
    monitor.changed.connect(this._render, this);
    this._render();
  }

  handleEvent(event: Event): void {
    if (event.type === 'click') {
      this._togglePopup();
    } else if (event.type === 'keydown') {
      const key = (event as KeyboardEvent).key;
      if (key === 'Enter' || key === ' ') {
        event.preventDefault();
        this._togglePopup();
      }
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._popup?.dispose();
    this._popup = null;
    super.dispose();
  }

  protected onAfterAttach(): void {
    this.node.addEventListener('click', this);
    this.node.addEventListener('keydown', this);
  }

  protected onBeforeDetach(): void {
    this.node.removeEventListener('click', this);
    this.node.removeEventListener('keydown', this);
  }

  private _render(): void {
    const info = this._monitor.info;
    if (info === null || !info.in_binder) {
      this._text.textContent = '';
      this.node.title = '';
      this._setLevel('ok');
      return;
    }
    const view = statusView(info, this._monitor.secondsLeft);
    if (this._text.textContent !== view.text) {
      this._text.textContent = view.text;
    }
    const title = [...view.details, 'Click for the persistent link.'].join(
      '\n'
    );
    if (this.node.title !== title) {
      this.node.title = title;
    }
    this._setLevel(view.level);
    if (this._popup !== null && !this._popup.isDisposed) {
      this._fillDetails(view.details);
    }
  }

  private _setLevel(level: Level): void {
    for (const [name, cls] of Object.entries(LEVEL_CLASS)) {
      if (cls !== null) {
        this.node.classList.toggle(cls, name === level);
      }
    }
    this.node.dataset.level = level;
  }

  private _togglePopup(): void {
    if (this._popup !== null && !this._popup.isDisposed) {
      this._popup.dispose();
      this._popup = null;
      return;
    }
    const info = this._monitor.info;
    if (info === null || !info.in_binder) {
      return;
    }
    const body = new Widget();
    body.addClass('bf-SessionPopup');
    this._details = document.createElement('div');
    this._details.className = 'bf-SessionPopup-details';
    body.node.appendChild(this._details);
    this._fillDetails(statusView(info, this._monitor.secondsLeft).details);

    // checked again where it becomes an anchor: only http(s) links are ever rendered
    const row = persistentLinkRow(info.persistent_link, text =>
      Clipboard.copyToSystem(text)
    );
    if (row !== null) {
      body.node.appendChild(row);
    }
    this._popup = showPopup({ body, anchor: this, align: 'left' });
  }

  private _fillDetails(lines: string[]): void {
    if (this._details === null) {
      return;
    }
    this._details.replaceChildren(
      ...lines.map((line, index) => {
        const div = document.createElement('div');
        div.className =
          index === 0 ? 'bf-SessionPopup-title' : 'bf-SessionPopup-line';
        div.textContent = line;
        return div;
      })
    );
  }

  private _monitor: SessionMonitor;
  private _text: HTMLSpanElement;
  private _popup: Popup | null = null;
  private _details: HTMLDivElement | null = null;
}
