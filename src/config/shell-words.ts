/**
 * Splits a string of flags into words the way a POSIX shell would (without
 * expansions), for $GWSERVER_CMD_ARGS: gunicorn splits $GUNICORN_CMD_ARGS with
 * Python's `shlex.split`, and operators quote the same way in both.
 *
 * @module
 */

/**
 * Splits `text` into words: blanks separate words; `'...'` keeps everything
 * literally; `"..."` keeps everything but `\"`, `\\`, `\$` and `` \` ``; a
 * backslash outside quotes keeps the next character literally.
 *
 * @example
 * ```ts
 * shellWords(`-w 4 --name 'my app' -b "[::1]:8000"`); // ['-w', '4', '--name', 'my app', '-b', '[::1]:8000']
 * ```
 * @throws Error when a quote is not closed or the text ends with a backslash.
 */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  // A word exists once anything was seen, so that '' is an (empty) word.
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new Error(`no closing quotation (' at character ${i + 1})`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      for (;;) {
        if (j >= text.length) throw new Error(`no closing quotation (" at character ${i + 1})`);
        const d = text[j]!;
        if (d === '"') break;
        if (d === '\\' && j + 1 < text.length && '"\\$`\n'.includes(text[j + 1]!)) {
          // A backslash before a newline joins lines, as in a shell.
          if (text[j + 1] !== '\n') word += text[j + 1];
          j += 2;
        } else {
          word += d;
          j++;
        }
      }
      inWord = true;
      i = j + 1;
    } else if (c === '\\') {
      if (i + 1 >= text.length) throw new Error('no escaped character (the text ends with a backslash)');
      if (text[i + 1] !== '\n') {
        word += text[i + 1];
        inWord = true;
      }
      i += 2;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}
