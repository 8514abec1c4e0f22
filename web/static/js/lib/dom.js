// @ts-check
// Small DOM helpers every page can use; no side effects on import (unlike common.js, which sets up
// the page's chrome), so any module may import them.

/**
 * The element with `id`, checked to be a `type` (an HTMLElement when not given). A template that
 * lacks it fails at once, naming the id, rather than later with "cannot read properties of null".
 * @overload
 * @param {string} id
 * @returns {HTMLElement}
 */
/**
 * @template {Element} T
 * @overload
 * @param {string} id
 * @param {new (...args: any[]) => T} type
 * @returns {T}
 */
/**
 * @param {string} id
 * @param {new (...args: any[]) => Element} [type]
 * @returns {Element}
 */
export function byId(id, type = HTMLElement) {
  const found = document.getElementById(id);
  if (found instanceof type) return found;
  throw new Error(`#${id}: expected ${type.name}, found ${describe(found)}`);
}

/**
 * The first element under `root` matching `selector`, checked to be a `type` (an HTMLElement when
 * not given); for parts a script made itself or that the template always has.
 * @overload
 * @param {ParentNode} root
 * @param {string} selector
 * @returns {HTMLElement}
 */
/**
 * @template {Element} T
 * @overload
 * @param {ParentNode} root
 * @param {string} selector
 * @param {new (...args: any[]) => T} type
 * @returns {T}
 */
/**
 * @param {ParentNode} root
 * @param {string} selector
 * @param {new (...args: any[]) => Element} [type]
 * @returns {Element}
 */
export function part(root, selector, type = HTMLElement) {
  const found = root.querySelector(selector);
  if (found instanceof type) return found;
  throw new Error(`${selector}: expected ${type.name}, found ${describe(found)}`);
}

/** @param {Element | null} found */
function describe(found) {
  return found ? `<${found.tagName.toLowerCase()}>` : "nothing";
}

/**
 * The first HTML element under `root` matching `selector`, or null: for parts that may be absent.
 * @param {ParentNode} root
 * @param {string} selector
 * @returns {HTMLElement | null}
 */
export function find(root, selector) {
  const found = root.querySelector(selector);
  return found instanceof HTMLElement ? found : null;
}

/**
 * A new element with a class and a text. The text goes in through textContent, never as markup:
 * residents' text is shown as the characters it is.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string} [className]
 * @param {string | null} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function node(tag, className, text) {
  const n = document.createElement(tag);
  if (className) n.className = className;
  if (text !== undefined && text !== null) n.textContent = text;
  return n;
}

/**
 * The control named `name` in `form`: an input, a text area or a select.
 * @param {HTMLFormElement} form
 * @param {string} name
 * @returns {HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement}
 */
export function control(form, name) {
  const found = form.elements.namedItem(name);
  if (found instanceof HTMLInputElement || found instanceof HTMLTextAreaElement || found instanceof HTMLSelectElement) {
    return found;
  }
  throw new Error(`form #${form.id} has no control named ${name}`);
}
