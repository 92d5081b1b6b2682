// The characters no subject id or group name may hold, held equal to Unicode's own properties,
// and the folding that the workflow's same-person check applies to ids stored before the rule.
import t from 'tap';
import { forbiddenCharIn, lookalikeKey, maybeSameId, SUBJECT_ID_PATTERN } from '../../src/identity/index.js';

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

t.test('maybeSameId: a Latin name with letters of another script in it may be that name', (t) => {
  const spoofs = {
    '\u0430lice': 'Cyrillic а (U+0430)', 'al\u0456ce': 'Cyrillic і (U+0456)', '\u0430l\u0456c\u0435': 'three Cyrillic letters',
    '\u13aalice': 'Cherokee Ꭺ (U+13AA)', 'alic\u03b5': 'Greek ε (U+03B5)', '\u0561lice': 'Armenian ա (U+0561)',
    '\u{1d41a}lice': 'mathematical bold a (NFKC)', 'ALİCE': 'dotted capital I (lower case: i and a dot)', '\u1ea1lice': 'a with dot below',
  };
  for (const [id, what] of Object.entries(spoofs)) t.ok(maybeSameId(id, 'alice') && maybeSameId('alice', id), `${what}: maybe alice`);
  t.ok(maybeSameId('\u0430lice', 'al\u0456ce'), 'two spoofs of one name: maybe the same');
  t.ok(maybeSameId('alice\u200b', 'alice'), 'what lookalikeKey folds still folds');

  t.notOk(maybeSameId('\u0430lice', 'alicia'), 'a letter stands for one letter: lengths must agree');
  t.notOk(maybeSameId('\u0430lice', 'bob12'), 'and the Latin letters must agree');
  t.notOk(maybeSameId('\u0430lice', 'a1ice'), 'a stand-in is a letter, not a digit');
  t.notOk(maybeSameId('\u0434\u0438\u043c\u0430', 'dave'), 'a name wholly in Cyrillic is itself, not any Latin name of its length');
  t.notOk(maybeSameId('\u0430\u0440\u0435', 'ape'), 'so a whole-script look-alike is not caught here (the console and the CLI mark it)');
  t.notOk(maybeSameId('\u5c71\u7530', 'ab'));
  t.ok(maybeSameId('zo\u00eb', 'zoe'), 'an accent on a Latin letter is no difference either');
  t.end();
});
