import { Widget } from '@lumino/widgets';

import { SessionMonitor } from './monitor';
import { IPanelActions, SessionPanel } from './panel';
import { AnchoredPopup } from './popup';
import { Level, statusView } from './session';

const LEVEL_CLASS: { [level in Level]: string | null } = {
  ok: null,
  warning: 'bf-warn',
  danger: 'bf-danger'
};

/**
 * The status item: `gesis · 11 min 40 s left if nothing runs · 1.1 / 2.0 GiB`, amber or
 * red when time or memory runs short, details on hover (title) and on click a popup: the
 * details, "Download my work", the files changed, memory over time, the relaunch links.
 * The words are the server extension's (the same as the CLI's and the widget's); only the
 * time left is counted down here. In JupyterLab's status bar, or Notebook 7's top bar.
 */
export class SessionStatusItem extends Widget {
  constructor(monitor: SessionMonitor, actions: IPanelActions) {
    super();
    this._monitor = monitor;
    this._actions = actions;
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
    this._closePopup();
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
    const title = [
      ...view.details,
      'Click to download your work and for the relaunch links.'
    ].join('\n');
    if (this.node.title !== title) {
      this.node.title = title;
    }
    this._setLevel(view.level);
    if (this._panel !== null) {
      this._panel.setDetails(view.details);
      this._panel.setLinks(info.display.links);
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

  private _closePopup(): void {
    this._popup?.dispose();
    this._popup = null;
    this._panel = null;
  }

  private _togglePopup(): void {
    if (this._popup !== null && !this._popup.isDisposed) {
      this._closePopup();
      return;
    }
    const info = this._monitor.info;
    if (info === null || !info.in_binder) {
      return;
    }
    const panel = new SessionPanel(this._actions);
    const popup = new AnchoredPopup({ body: panel.node, anchor: this.node });
    panel.onResize = () => popup.reposition();
    popup.disposed.connect(() => {
      if (this._popup === popup) {
        this._popup = null;
        this._panel = null;
      }
    });
    this._panel = panel;
    this._popup = popup;
    panel.setDetails(statusView(info, this._monitor.secondsLeft).details);
    panel.setLinks(info.display.links);
    popup.launch();
    void panel.refresh();
  }

  private _monitor: SessionMonitor;
  private _actions: IPanelActions;
  private _text: HTMLSpanElement;
  private _popup: AnchoredPopup | null = null;
  private _panel: SessionPanel | null = null;
}
