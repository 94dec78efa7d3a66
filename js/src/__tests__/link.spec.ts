/**
 * @jest-environment jsdom
 */
import { persistentLinkRow, relaunchLinkRow } from '../link';
import { httpLink, parseSessionInfo } from '../session';

import answers from './session-answers.json';

const HOSTILE = [
  'javascript:alert(document.cookie)',
  'JavaScript:alert(1)',
  ' javascript:alert(1)',
  'java\tscript:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  'vbscript:msgbox(1)',
  'file:///etc/passwd',
  '//evil.example/v2/gh/o/r/main',
  '/v2/gh/o/r/main',
  'http://[',
  'https://',
  'https://mybinder.org/v2/gh/o/r/main\u0085',
  '',
  42,
  null
];

describe('httpLink: only http(s) links', () => {
  it('keeps http and https links as they are', () => {
    for (const link of [
      'https://mybinder.org/v2/gh/o/r/4f1ab2c9d0e1',
      'http://127.0.0.1:8585/v2/gh/o/r/main',
      'HTTPS://MyBinder.org/v2/gh/o/r/main'
    ]) {
      expect(httpLink(link)).toBe(link);
    }
  });

  it.each(HOSTILE.map(value => [value]))('drops %p', value => {
    expect(httpLink(value)).toBeNull();
  });

  it('drops a javascript: persistent link from a fetched answer', () => {
    const info = parseSessionInfo({
      ...answers['max-age'],
      persistent_link: 'javascript:alert(1)'
    });
    expect(info.persistent_link).toBeNull();
  });
});

describe('persistentLinkRow: the popup anchor', () => {
  it('makes an anchor and a copy button for an http(s) link', () => {
    const copied: string[] = [];
    const link = 'https://mybinder.org/v2/gh/o/r/4f1ab2c9d0e1';
    const row = persistentLinkRow(link, text => copied.push(text));
    expect(row).not.toBeNull();
    const anchor = row!.querySelector('a')!;
    expect(anchor.getAttribute('href')).toBe(link);
    expect(anchor.rel).toBe('noopener noreferrer');
    row!.querySelector('button')!.click();
    expect(copied).toEqual([link]);
  });

  it.each(HOSTILE.map(value => [value]))(
    'makes no anchor for %p, even if the answer was not parsed',
    value => {
      expect(persistentLinkRow(value, () => undefined)).toBeNull();
    }
  );
});

describe('relaunchLinkRow: the relaunch links', () => {
  it('makes an anchor with the label, the link as text, a copy button', () => {
    const copied: string[] = [];
    const url = 'https://mybinder.org/v2/gh/o/r/HEAD';
    const row = relaunchLinkRow(
      { label: 'Open the latest', url, hint: 'the newest commit' },
      text => copied.push(text)
    );
    const anchor = row!.querySelector('a')!;
    expect(anchor.getAttribute('href')).toBe(url);
    expect(anchor.textContent).toBe('Open the latest');
    expect(anchor.rel).toBe('noopener noreferrer');
    expect(row!.textContent).toContain(url);
    expect(row!.textContent).toContain('the newest commit');
    row!.querySelector('button')!.click();
    expect(copied).toEqual([url]);
  });

  it.each(HOSTILE.map(value => [value]))('makes no row for %p', value => {
    expect(
      relaunchLinkRow({ label: 'Open the latest', url: value }, () => undefined)
    ).toBeNull();
  });
});
