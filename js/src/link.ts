/**
 * The popup's persistent-link row. No JupyterLab import (the copy is passed in), so that
 * jest can check it in a DOM: an anchor is only ever made for an http(s) link.
 */
import { httpLink } from './session';

/**
 * A row with the link and a button copying it, or null when `value` is not an http(s)
 * link (`javascript:...` from a broken or hostile answer): no anchor, no button.
 */
export function persistentLinkRow(
  value: unknown,
  copy: (text: string) => void
): HTMLDivElement | null {
  const link = httpLink(value);
  if (link === null) {
    return null;
  }
  const row = document.createElement('div');
  row.className = 'bf-SessionPopup-link';
  const anchor = document.createElement('a');
  anchor.href = link;
  anchor.target = '_blank';
  anchor.rel = 'noopener noreferrer';
  anchor.textContent = link;
  const button = document.createElement('button');
  button.className =
    'jp-Button jp-mod-styled jp-mod-accept bf-SessionPopup-copy';
  button.textContent = 'Copy persistent link';
  button.addEventListener('click', event => {
    event.stopPropagation();
    copy(link);
    button.textContent = 'Copied';
  });
  row.append(anchor, button);
  return row;
}

/** A relaunch link as the popup shows it (`IRelaunchLink`, or anything of its shape). */
export interface ILinkRowOptions {
  /** "Open this exact commit again" */
  label: string;
  url: unknown;
  /** What it opens, shown under the label. */
  hint?: string;
}

/**
 * A relaunch row: the label as an anchor, the link itself, what it opens, and a button
 * copying the link; null when `url` is not an http(s) link (no anchor, no button).
 */
export function relaunchLinkRow(
  options: ILinkRowOptions,
  copy: (text: string) => void
): HTMLDivElement | null {
  const link = httpLink(options.url);
  if (link === null) {
    return null;
  }
  const row = document.createElement('div');
  row.className = 'bf-SessionPopup-link bf-SessionPopup-relaunch';
  const text = document.createElement('div');
  text.className = 'bf-SessionPopup-linkText';
  const anchor = document.createElement('a');
  anchor.href = link;
  anchor.target = '_blank';
  anchor.rel = 'noopener noreferrer';
  anchor.textContent = options.label;
  anchor.title = link;
  const url = document.createElement('div');
  url.className = 'bf-SessionPopup-url';
  url.textContent = link;
  text.append(anchor, url);
  if (options.hint) {
    const hint = document.createElement('div');
    hint.className = 'bf-SessionPopup-hint';
    hint.textContent = options.hint;
    text.appendChild(hint);
  }
  const button = document.createElement('button');
  button.className = 'jp-Button jp-mod-styled bf-SessionPopup-copy';
  button.textContent = 'Copy';
  button.title = `Copy ${link}`;
  button.setAttribute('aria-label', `Copy the link: ${options.label}`);
  button.addEventListener('click', event => {
    event.stopPropagation();
    copy(link);
    button.textContent = 'Copied';
  });
  row.append(text, button);
  return row;
}
