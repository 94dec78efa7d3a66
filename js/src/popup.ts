import { Widget } from '@lumino/widgets';

/** Room kept between the popup and the window's edges (px). */
const MARGIN = 6;

/**
 * A popup next to its anchor: above it when the anchor is in the lower half of the window
 * (JupyterLab's status bar), below it otherwise (Notebook 7's top bar, where the status
 * bar's own popup, always above, would leave the window). Closed by a click outside or
 * Escape; scrolls when the window is short.
 */
export class AnchoredPopup extends Widget {
  constructor(options: AnchoredPopup.IOptions) {
    super();
    this._anchor = options.anchor;
    this.addClass('bf-Popup');
    this.addClass('jp-ThemedContainer');
    this.node.appendChild(options.body);
  }

  /** Attach to the page, next to the anchor. */
  launch(): void {
    Widget.attach(this, document.body);
    this.reposition();
    this._anchor.classList.add('jp-mod-clicked');
  }

  /** Place it again (its content grew, the window changed). */
  reposition(): void {
    if (!this.isAttached) {
      return;
    }
    const anchor = this._anchor.getBoundingClientRect();
    const height = window.innerHeight;
    const width = window.innerWidth;
    const style = this.node.style;
    const below = anchor.top + anchor.height / 2 < height / 2;
    if (below) {
      style.top = `${anchor.bottom + 2}px`;
      style.bottom = '';
      style.maxHeight = `${Math.max(80, height - anchor.bottom - MARGIN)}px`;
    } else {
      style.bottom = `${height - anchor.top + 2}px`;
      style.top = '';
      style.maxHeight = `${Math.max(80, anchor.top - MARGIN)}px`;
    }
    const left = Math.min(anchor.left, width - this.node.offsetWidth - MARGIN);
    style.left = `${Math.max(MARGIN, left)}px`;
    this.node.dataset.side = below ? 'below' : 'above';
  }

  handleEvent(event: Event): void {
    switch (event.type) {
      case 'click': {
        const target = event.target as Node | null;
        if (
          target !== null &&
          !this.node.contains(target) &&
          !this._anchor.contains(target)
        ) {
          this.dispose();
        }
        break;
      }
      case 'keydown':
        if ((event as KeyboardEvent).key === 'Escape') {
          event.stopPropagation();
          event.preventDefault();
          this.dispose();
        }
        break;
      case 'resize':
        this.reposition();
        break;
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._anchor.classList.remove('jp-mod-clicked');
    super.dispose();
  }

  protected onAfterAttach(): void {
    document.addEventListener('click', this, false);
    this.node.addEventListener('keydown', this, false);
    window.addEventListener('resize', this, false);
  }

  protected onBeforeDetach(): void {
    document.removeEventListener('click', this, false);
    this.node.removeEventListener('keydown', this, false);
    window.removeEventListener('resize', this, false);
  }

  private _anchor: HTMLElement;
}

export namespace AnchoredPopup {
  export interface IOptions {
    /** What the popup shows. */
    body: HTMLElement;
    /** The element it opens next to (and whose clicks do not close it). */
    anchor: HTMLElement;
  }
}
