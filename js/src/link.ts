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
