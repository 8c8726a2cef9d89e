/**
 * A small XML reader for tests: checks well-formedness (nesting, quoted attributes, known entities, one root) and
 * returns the element tree. Enough for the SVG and XHTML that clafusion writes; no DTDs, no CDATA.
 */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_][\w.:-]*/;
const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

function checkText(text: string, where: number): string {
  if (text.includes('<')) throw new Error(`'<' in text at ${where}`);
  if (text.replace(ENTITY, '').includes('&')) throw new Error(`bare '&' in text at ${where}`);
  const named: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&apos;': "'" };
  return text.replace(ENTITY, (e) => named[e] ?? String.fromCodePoint(Number(e.slice(2, -1).replace(/^x/, '0x'))));
}

function parseAttributes(source: string, where: number): Record<string, string> {
  const attributes: Record<string, string> = {};
  let rest = source.trim();
  while (rest.length > 0) {
    const match = /^([A-Za-z_][\w.:-]*)\s*=\s*("([^"]*)"|'([^']*)')\s*/.exec(rest);
    if (!match) throw new Error(`malformed attribute near '${rest.slice(0, 30)}' at ${where}`);
    if (match[1] in attributes) throw new Error(`duplicate attribute ${match[1]} at ${where}`);
    attributes[match[1]] = checkText(match[3] ?? match[4], where);
    rest = rest.slice(match[0].length);
  }
  return attributes;
}

/** Parses `source` (an XML document or fragment with one root element; a leading doctype is skipped). */
export function parseXml(source: string): XmlElement {
  const stack: XmlElement[] = [{ name: '#document', attributes: {}, children: [], text: '' }];
  let position = source.startsWith('<!DOCTYPE') ? source.indexOf('>') + 1 : 0;
  while (position < source.length) {
    const open = source.indexOf('<', position);
    const text = source.slice(position, open < 0 ? source.length : open);
    stack[stack.length - 1].text += checkText(text, position);
    if (open < 0) break;
    const close = source.indexOf('>', open);
    if (close < 0) throw new Error(`unclosed tag at ${open}`);
    const tag = source.slice(open + 1, close);
    position = close + 1;
    if (tag.startsWith('/')) {
      const element = stack.pop()!;
      if (element.name !== tag.slice(1).trim()) throw new Error(`</${tag.slice(1)}> closes <${element.name}>`);
      continue;
    }
    const name = NAME.exec(tag)?.[0];
    if (!name) throw new Error(`bad tag <${tag.slice(0, 20)}> at ${open}`);
    const selfClosing = tag.endsWith('/');
    const attributes = parseAttributes(tag.slice(name.length, selfClosing ? -1 : undefined), open);
    const element: XmlElement = { name, attributes, children: [], text: '' };
    stack[stack.length - 1].children.push(element);
    if (!selfClosing) stack.push(element);
  }
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1].name}> is never closed`);
  const roots = stack[0].children;
  if (roots.length !== 1 || stack[0].text.trim() !== '') throw new Error(`expected one root, got ${roots.length}`);
  return roots[0];
}

/** Every element below `root` (itself included) that satisfies `test`, in document order. */
export function findAll(root: XmlElement, test: (e: XmlElement) => boolean): XmlElement[] {
  return [...(test(root) ? [root] : []), ...root.children.flatMap((c) => findAll(c, test))];
}
