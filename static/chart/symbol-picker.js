// The symbol picker: a combobox (WAI-ARIA pattern) over the symbols klagg serves. Typing filters (symbols that start
// with the text first, then those that contain it); ↑/↓ move, Enter picks, Escape gives up, `/` anywhere focuses it.
// Only the first MAX_SHOWN matches are drawn: a demo may serve 2,000 symbols.

const MAX_SHOWN = 200;

/**
 * @param {{ input: HTMLInputElement, list: HTMLElement, onPick: (symbol: string) => void }} parts
 * @returns {{ setSymbols(symbols: {symbol: string, baseAsset?: string, quoteAsset?: string}[]): void, setCurrent(symbol: string): void }}
 */
export function createSymbolPicker({ input, list, onPick }) {
  let symbols = [];
  let current = '';
  let shown = [];
  let active = -1;

  input.setAttribute('role', 'combobox');
  input.setAttribute('aria-autocomplete', 'list');
  input.setAttribute('aria-controls', list.id);
  input.setAttribute('aria-expanded', 'false');
  list.setAttribute('role', 'listbox');

  function matches(text) {
    const query = text.trim().toUpperCase();
    if (query === '') return symbols;
    const starts = [];
    const contains = [];
    for (const s of symbols) {
      const at = s.symbol.indexOf(query);
      if (at === 0) starts.push(s);
      else if (at > 0) contains.push(s);
    }
    return starts.concat(contains);
  }

  function render() {
    list.replaceChildren();
    shown.slice(0, MAX_SHOWN).forEach((s, i) => {
      const option = document.createElement('li');
      option.id = `${list.id}-${i}`;
      option.setAttribute('role', 'option');
      option.setAttribute('aria-selected', String(i === active));
      option.dataset.symbol = s.symbol;
      if (s.symbol === current) option.classList.add('current');
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = s.symbol;
      option.append(name);
      if (s.baseAsset && s.quoteAsset) {
        const pair = document.createElement('span');
        pair.className = 'pair';
        pair.textContent = `${s.baseAsset} / ${s.quoteAsset}`;
        option.append(pair);
      }
      list.append(option);
    });
    if (shown.length === 0) {
      const none = document.createElement('li');
      none.className = 'note';
      none.textContent = 'no symbol matches';
      list.append(none);
    } else if (shown.length > MAX_SHOWN) {
      const more = document.createElement('li');
      more.className = 'note';
      more.textContent = `${shown.length - MAX_SHOWN} more — keep typing`;
      list.append(more);
    }
    if (active >= 0) {
      input.setAttribute('aria-activedescendant', `${list.id}-${active}`);
      document.getElementById(`${list.id}-${active}`)?.scrollIntoView({ block: 'nearest' });
    } else input.removeAttribute('aria-activedescendant');
  }

  /** Lists the symbols matching `text`; the first is active, or the shown symbol when the list is not filtered. */
  function open(text) {
    shown = matches(text);
    const at = text === '' ? shown.findIndex((s) => s.symbol === current) : -1;
    active = at >= 0 ? at : shown.length > 0 ? 0 : -1;
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    render();
  }

  function close() {
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    active = -1;
  }

  function pick(symbol) {
    close();
    input.value = symbol;
    input.blur();
    if (symbol !== current) onPick(symbol);
  }

  function move(by) {
    if (list.hidden) open('');
    const count = Math.min(shown.length, MAX_SHOWN);
    if (count === 0) return;
    active = (active + by + count) % count;
    render();
  }

  // Focused, the whole list shows (the shown symbol's name selected, so typing replaces it and filters).
  input.addEventListener('focus', () => {
    input.select();
    open('');
  });
  input.addEventListener('input', () => open(input.value));
  input.addEventListener('blur', () => {
    close();
    input.value = current;
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown') move(1);
    else if (event.key === 'ArrowUp') move(-1);
    else if (event.key === 'Enter') {
      const typed = input.value.trim().toUpperCase();
      const exact = symbols.find((s) => s.symbol === typed);
      const chosen = active >= 0 ? shown[active] : exact;
      if (chosen) pick(chosen.symbol);
    } else if (event.key === 'Escape') {
      input.blur();
    } else return;
    event.preventDefault();
  });
  // mousedown, not click: the input's blur (which closes the list) would come first.
  list.addEventListener('mousedown', (event) => {
    const option = event.target instanceof Element ? event.target.closest('[role="option"]') : null;
    event.preventDefault();
    if (option) pick(option.dataset.symbol);
  });
  document.addEventListener('keydown', (event) => {
    const typing = event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement;
    if (event.key === '/' && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      input.focus();
    }
  });

  return {
    setSymbols(next) {
      symbols = [...next].sort((a, b) => a.symbol.localeCompare(b.symbol));
      if (!list.hidden) open(input.value);
    },
    setCurrent(symbol) {
      current = symbol;
      if (document.activeElement !== input) input.value = symbol;
    },
  };
}
