// Text mode under someone else's change; panel.js imports this only then (not part of the panel's first load).
// A three-way merge by line (one line, one item) of the text as opened (base), the user's draft (mine) and the text
// as stored now (theirs). A line one side changed or removed takes that side's version; lines either side added stay
// where they were added (theirs first: saved already). A line both changed differently keeps both versions and is
// in `clashes`: { was: its old text, line: about where its versions start (1-based) }. Before, the draft was kept as
// typed, and saving it silently undid the other person's change.
export function mergeText(base, mine, theirs) {
  if (mine === base || mine === theirs) return { text: theirs, clashes: [] };
  if (theirs === base) return { text: mine, clashes: [] };
  const O = base.split("\n");
  const [A, B] = [mine, theirs].map((text) => sides(O, text.split("\n")));
  const text = [];
  const clashes = [];
  const starts = new Map(); // where each base line's additions begin in `text`
  const added = (k) => {
    starts.set(k, text.length);
    const their = B.added.get(k) || [];
    const unmatched = [...their]; // each of their lines stands for one of mine, once: two typed alike stay two
    text.push(...their, ...(A.added.get(k) || []).filter((line) => {
      const at = line.trim() ? unmatched.indexOf(line) : -1;
      if (at >= 0) unmatched.splice(at, 1);
      return at < 0;
    }));
  };
  added(-1);
  O.forEach((line, i) => {
    const [keptA, keptB] = [A.kept.has(i), B.kept.has(i)];
    if (keptA && keptB) text.push(line);
    else if (!keptA && !keptB && line.trim()) {
      const [newA, newB] = [A.added.get(A.before(i)) || [], B.added.get(B.before(i)) || []];
      if (newA.length && newB.length && newA.join() !== newB.join()) {
        clashes.push({ was: line, line: Math.max(starts.get(A.before(i)), starts.get(B.before(i))) + 1 });
      }
    }
    added(i); // a line one side kept and the other changed: the change, added after the last line both kept
  });
  return { text: text.join("\n"), clashes };
}

// One side against the base: which base lines it kept, and the lines it added after the base line it kept last.
function sides(base, lines) {
  const pairs = matches(base, lines);
  const kept = new Set(pairs.keys());
  const added = new Map();
  let last = -1;
  let at = 0;
  lines.forEach((line, j) => {
    while (at < base.length && (!pairs.has(at) || pairs.get(at) < j)) at += 1; // the base line matched at j, if any
    if (pairs.get(at) === j) last = at;
    else added.set(last, [...(added.get(last) || []), line]);
  });
  // The base line this side kept last before base line i (-1: none): where its additions around i went.
  const before = (i) => { let k = i - 1; while (k >= 0 && !kept.has(k)) k -= 1; return k; };
  return { kept, added, before };
}

// The lines of `from` kept in `to` (a longest common subsequence): index in `from` -> index in `to`.
function matches(from, to) {
  const width = to.length + 1;
  const table = new Uint32Array((from.length + 1) * width);
  for (let i = from.length - 1; i >= 0; i--) {
    for (let j = to.length - 1; j >= 0; j--) {
      table[i * width + j] = from[i] === to[j] ? table[(i + 1) * width + j + 1] + 1
        : Math.max(table[(i + 1) * width + j], table[i * width + j + 1]);
    }
  }
  const pairs = new Map();
  for (let i = 0, j = 0; i < from.length && j < to.length;) {
    if (from[i] === to[j]) pairs.set(i++, j++);
    else if (table[(i + 1) * width + j] >= table[i * width + j + 1]) i++;
    else j++;
  }
  return pairs;
}
