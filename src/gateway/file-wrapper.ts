/**
 * `wsgi.file_wrapper`: a body that streams a file. The server recognises it
 * and adds Content-Length from the file's size when the app set none; the
 * file is read block by block as the socket drains, never whole.
 *
 * @module
 */
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { FileLike } from './types.js';

const DEFAULT_BLOCK = 64 * 1024;

/** A file, FileHandle or Readable as a response body. */
export class FileWrapper implements AsyncIterable<Buffer> {
  #file: FileLike;
  #blockSize: number;
  #handle: FileHandle | undefined;
  #ownsHandle = false;
  #stream: Readable | undefined;
  #closed = false;

  constructor(file: FileLike, blockSize: number = DEFAULT_BLOCK) {
    this.#file = file;
    this.#blockSize = blockSize > 0 ? blockSize : DEFAULT_BLOCK;
  }

  /** The number of bytes the body will yield, when it can be known (not for a Readable). */
  async size(): Promise<number | undefined> {
    const handle = await this.#open();
    if (handle === undefined) return undefined;
    const st = await handle.stat();
    return st.isFile() ? st.size : undefined;
  }

  async #open(): Promise<FileHandle | undefined> {
    if (this.#file instanceof Readable) return undefined;
    if (this.#handle === undefined) {
      if (typeof this.#file === 'string') {
        this.#handle = await open(this.#file, 'r');
        this.#ownsHandle = true;
      } else {
        this.#handle = this.#file as FileHandle;
      }
    }
    return this.#handle;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    const handle = await this.#open();
    this.#stream = handle === undefined
      ? (this.#file as Readable)
      : handle.createReadStream({ highWaterMark: this.#blockSize, autoClose: false });
    for await (const chunk of this.#stream) yield chunk as Buffer;
  }

  /** Closes the stream, and the file when the wrapper opened it (a path); a caller's FileHandle stays open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stream?.destroy();
    if (this.#ownsHandle) await this.#handle?.close();
  }
}

/** The `wsgi.file_wrapper` of every environ. */
export function fileWrapper(file: FileLike, blockSize?: number): FileWrapper {
  return new FileWrapper(file, blockSize);
}
