/**
 * `wsgi.file_wrapper`: a body that streams a file. The server recognises it
 * and adds Content-Length from the file's size when the app set none; the
 * file is read block by block as the socket drains, never whole.
 *
 * As in PEP 3333, the wrapper's close() closes what it was given: a path it
 * opened, a FileHandle, a Readable (destroyed), so that an app can hand over
 * a file and forget it. close() comes on every path (HEAD, errors, a client
 * that went away), also when the body was never iterated.
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
  #opening: Promise<FileHandle> | undefined;
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
    if (this.#handle !== undefined) return this.#handle;
    if (typeof this.#file !== 'string') return (this.#handle = this.#file as FileHandle);
    // size() and the iterator may both ask: open once.
    this.#opening ??= open(this.#file, 'r');
    const handle = await this.#opening;
    if (this.#closed) {
      // close() ran while the file was being opened (the client went away): nobody else will close it.
      if (this.#handle === undefined) {
        this.#handle = handle;
        await handle.close();
      }
      throw new Error('wsgi.file_wrapper: the body was closed before the file was opened');
    }
    return (this.#handle = handle);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.#closed) return;
    const handle = await this.#open();
    this.#stream = handle === undefined
      ? (this.#file as Readable)
      : handle.createReadStream({ highWaterMark: this.#blockSize, autoClose: false });
    for await (const chunk of this.#stream) yield chunk as Buffer;
  }

  /** Destroys the stream and closes the file (a path the wrapper opened, or the FileHandle it was given). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const file = this.#file;
    // A Readable that was never iterated (HEAD, an error first) is destroyed too.
    if (file instanceof Readable) file.destroy();
    this.#stream?.destroy();
    // The app's FileHandle, even if the server never got to use it (the client went away first).
    await (this.#handle ?? (typeof file === 'string' || file instanceof Readable ? undefined : file))?.close();
  }
}

/** The `wsgi.file_wrapper` of every environ. */
export function fileWrapper(file: FileLike, blockSize?: number): FileWrapper {
  return new FileWrapper(file, blockSize);
}
