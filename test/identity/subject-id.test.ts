// The characters no subject id or group name may hold, held equal to Unicode's own properties,
// and the folding that the workflow's same-person check applies to ids stored before the rule.
import t from 'tap';
import { forbiddenCharIn, lookalikeKey, SUBJECT_ID_PATTERN } from '../../src/identity/index.js';

t.test('refused: exactly the controls, line separators, default-ignorables and bidi controls', (t) => {
  const unicode = /[\p{Cc}\u2028\u2029\p{Default_Ignorable_Code_Point}\p{Bidi_Control}]/u;
  const pattern = new RegExp(SUBJECT_ID_PATTERN, 'u');
  const differ: string[] = [];
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const ch = String.fromCodePoint(cp);
    const refused = forbiddenCharIn(`a${ch}b`) !== null;
    if (refused !== unicode.test(ch) || refused === pattern.test(`a${ch}b`)) differ.push(`U+${cp.toString(16).toUpperCase()}`);
  }
  t.same(differ, [], 'the list, the schema pattern and the Unicode properties agree on every code point');
  t.equal(forbiddenCharIn('alice\u200b'), 'U+200B');
  t.equal(forbiddenCharIn('\u{e0100}x'), 'U+E0100');
  t.equal(forbiddenCharIn('zoë ali\u00a0ce مريم'), null, 'letters of any script and visible spaces are names');
  t.end();
});

t.test('lookalikeKey: ids that read alike fold alike', (t) => {
  for (const id of ['alice\u200b', '\u2066alice\u2069', 'ali\u00adce', 'ALICE\ufe0f', ' alice ', 'ａｌｉｃｅ']) {
    t.equal(lookalikeKey(id), 'alice', JSON.stringify(id));
  }
  t.equal(lookalikeKey('caf\u200be\u0301'), lookalikeKey('café'), 'an invisible character between a letter and its accent does not keep them apart');
  t.equal(lookalikeKey('\uffa0x'), 'x', 'a filler NFKC maps onto another filler is dropped too');
  t.not(lookalikeKey('alice'), lookalikeKey('alicf'));
  t.end();
});
