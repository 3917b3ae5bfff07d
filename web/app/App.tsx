import { type InfiniteData, useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { flushSync } from "react-dom";
import type { Page } from "../src/client.js";
import { WellspringError } from "../src/errors.js";
import type { Comment, Post, User } from "../src/gen/wellspring/v1/resources_pb.js";
import { ChangeEvent_Kind } from "../src/gen/wellspring/v1/watch_service_pb.js";
import { useClient, useDebounced, useRoute, useStatus } from "./hooks.js";

export function App() {
  const route = useRoute();
  const status = useStatus();
  return (
    <>
      <header>
        <nav>
          <a href="#/">Wellspring</a> <a href="#/export">Export</a>
        </nav>
        <span className={`status ${status}`} data-testid="status">{status}</span>
      </header>
      {status === "offline" && (
        <div className="banner" role="alert" data-testid="offline">
          Offline: the server cannot be reached. Reconnecting…
        </div>
      )}
      <main>
        {route[0] === "users" && route[1] ? (
          <UserPage id={route[1]} />
        ) : route[0] === "posts" && route[1] ? (
          <PostPage id={route[1]} />
        ) : route[0] === "export" ? (
          <ExportPage />
        ) : (
          <UsersPage />
        )}
      </main>
    </>
  );
}

function UsersPage() {
  const client = useClient();
  const [typed, setTyped] = useState("");
  const query = useDebounced(typed.trim(), 300);
  const users = useInfiniteQuery({
    queryKey: client.users.listKey({ query }),
    queryFn: ({ pageParam, signal }) => client.users.listPage({ query, pageSize: 20 }, pageParam, signal),
    initialPageParam: "",
    getNextPageParam: (last: Page<User>) => last.nextPageToken || undefined,
  });
  const end = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const sentinel = end.current;
    if (!sentinel) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && users.hasNextPage && !users.isFetchingNextPage) {
        void users.fetchNextPage();
      }
    });
    observer.observe(sentinel);
    return () => observer.disconnect();
  }, [users]);
  const items = users.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <section>
      <h1>Users</h1>
      <input
        type="search"
        placeholder="Search by name"
        aria-label="Search users"
        value={typed}
        onChange={(e) => setTyped(e.target.value)}
      />
      {users.error && <ErrorText error={users.error} />}
      <ul className="users" data-testid="users">
        {items.map((user) => (
          <li key={user.id}>
            <a href={`#/users/${user.id}`}>{user.displayName}</a>
          </li>
        ))}
      </ul>
      <div ref={end} data-testid="end">
        {users.isFetching ? "Loading…" : users.hasNextPage ? "" : `${items.length} users`}
      </div>
      <NewUser />
    </section>
  );
}

function NewUser() {
  const client = useClient();
  const [error, setError] = useState<WellspringError | null>(null);
  const [done, setDone] = useState("");
  async function submit(form: HTMLFormElement) {
    const data = new FormData(form);
    setError(null);
    try {
      const user = await client.users.create({
        displayName: String(data.get("displayName")),
        email: String(data.get("email")),
      });
      setDone(user.id);
      form.reset();
      void client.queryClient.invalidateQueries({ queryKey: ["wellspring", "users", "list"] });
    } catch (thrown) {
      setError(thrown instanceof WellspringError ? thrown : null);
    }
  }
  return (
    <form
      className="card"
      aria-label="New user"
      onSubmit={(e) => {
        e.preventDefault();
        void submit(e.currentTarget);
      }}
    >
      <h2>New user</h2>
      <Field label="Name" name="displayName" error={error?.violation("user.display_name")} />
      <Field label="Email" name="email" error={error?.violation("user.email")} />
      {error && !error.fieldViolations.length && <ErrorText error={error} />}
      <button type="submit">Create</button>
      {done && <p data-testid="created">Created {done}</p>}
    </form>
  );
}

function Field({ label, name, error, value }: { label: string; name: string; error?: string | undefined; value?: string }) {
  return (
    <label className={error ? "field invalid" : "field"}>
      <span>{label}</span>
      <input name={name} defaultValue={value} aria-invalid={Boolean(error)} />
      {error && (
        <small className="violation" data-testid={`violation-${name}`}>
          {error}
        </small>
      )}
    </label>
  );
}

function ErrorText({ error }: { error: unknown }) {
  const message = error instanceof WellspringError ? `${error.reason || "error"}: ${error.message}` : String(error);
  return (
    <p className="error" role="alert">
      {message}
    </p>
  );
}

function UserPage({ id }: { id: string }) {
  const client = useClient();
  const user = useQuery(client.users.getOptions(id));
  const posts = useQuery({
    queryKey: client.posts.listKey({ authorId: id }),
    queryFn: ({ signal }) => client.posts.listPage({ authorId: id, pageSize: 50 }, "", signal),
  });
  if (user.isPending) return <p>Loading…</p>;
  if (user.error) return <ErrorText error={user.error} />;
  if (!user.data) return <p>This user was deleted.</p>;
  return (
    <section>
      <h1 data-testid="user-name">{user.data.displayName}</h1>
      <p className="muted">{user.data.email || "email private"}</p>
      <ProfileForm user={user.data} />
      <h2>Posts</h2>
      <ul data-testid="posts">
        {(posts.data?.items ?? []).map((post: Post) => (
          <li key={post.id}>
            <a href={`#/posts/${post.id}`}>{post.title}</a>
          </li>
        ))}
      </ul>
    </section>
  );
}

function ProfileForm({ user }: { user: User }) {
  const client = useClient();
  const [error, setError] = useState<WellspringError | null>(null);
  // The version this edit started from: it follows the Watch until the form is touched, then stays, so
  // a save after someone else's carries the old etag and is refused as a conflict (never lost silently).
  const [editing, setEditing] = useState<User>(user);
  const [dirty, setDirty] = useState(false);
  useEffect(() => {
    if (!dirty && !error) setEditing(user);
  }, [user, dirty, error]);
  async function submit(form: HTMLFormElement) {
    const data = new FormData(form);
    setError(null);
    try {
      await client.users.updateOptimistic(
        { id: user.id, displayName: String(data.get("displayName")), bio: String(data.get("bio")), etag: editing.etag },
        ["display_name", "bio"],
      );
      setDirty(false);
    } catch (thrown) {
      setError(thrown instanceof WellspringError ? thrown : null);
    }
  }
  return (
    <form
      className="card"
      aria-label="Edit profile"
      key={editing.etag}
      onInput={() => setDirty(true)}
      onSubmit={(e) => {
        e.preventDefault();
        void submit(e.currentTarget);
      }}
    >
      <Field label="Name" name="displayName" value={editing.displayName} error={error?.violation("user.display_name")} />
      <Field label="Bio" name="bio" value={editing.bio} error={error?.violation("user.bio")} />
      {error?.isConflict && (
        <div className="conflict" role="alert" data-testid="conflict">
          Someone else changed this profile. Current version: <b>{user.displayName}</b>
          <button type="button" onClick={() => { setError(null); setDirty(false); setEditing(user); }}>
            Edit the current version
          </button>
        </div>
      )}
      {error && !error.isConflict && !error.fieldViolations.length && <ErrorText error={error} />}
      <button type="submit">Save</button>
    </form>
  );
}

type Comments = InfiniteData<Page<Comment>, string>;

function PostPage({ id }: { id: string }) {
  const client = useClient();
  const post = useQuery(client.posts.getOptions(id));
  const key = client.comments.listKey({ postId: id });
  useEffect(() => {
    // New comments on this post arrive by the Watch stream, applied in place: no refetch.
    client.bridge.patchList(key, (data, event, resource) => {
      const pages = data as Comments;
      const comment = resource as Comment | null;
      const last = pages.pages.length - 1;
      const without = pages.pages.map((p) => ({ ...p, items: p.items.filter((c) => c.id !== event.id) }));
      if (event.kind === ChangeEvent_Kind.DELETED || !comment || comment.postId !== id) {
        return { ...pages, pages: without };
      }
      const existing = pages.pages.some((p) => p.items.some((c) => c.id === comment.id));
      if (existing) {
        return { ...pages, pages: pages.pages.map((p) => ({ ...p, items: p.items.map((c) => (c.id === comment.id ? comment : c)) })) };
      }
      if (pages.pages[last]?.nextPageToken) return pages; // it belongs to a page not loaded yet
      return { ...pages, pages: without.map((p, n) => (n === last ? { ...p, items: [...p.items, comment] } : p)) };
    });
  }, [client, id]);
  const comments = useInfiniteQuery({
    queryKey: key,
    queryFn: ({ pageParam, signal }) => client.comments.listPage({ postId: id, pageSize: 50 }, pageParam, signal),
    initialPageParam: "",
    getNextPageParam: (last: Page<Comment>) => last.nextPageToken || undefined,
    staleTime: Number.POSITIVE_INFINITY, // kept current by the Watch stream
  });
  if (post.isPending) return <p>Loading…</p>;
  if (post.error) return <ErrorText error={post.error} />;
  if (!post.data) return <p>This post was deleted.</p>;
  const items = comments.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <section>
      <h1 data-testid="post-title">{post.data.title}</h1>
      <p className="body">{post.data.body}</p>
      <h2>Comments</h2>
      <ul className="comments" data-testid="comments">
        {items.map((comment) => (
          <li key={comment.id} data-id={comment.id}>
            {comment.body}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Every user, streamed: each chunk is counted and rendered as it arrives (the first long before the last). */
function ExportPage() {
  const client = useClient();
  const [count, setCount] = useState(0);
  const [chunks, setChunks] = useState(0);
  const [first, setFirst] = useState<User[]>([]);
  const [state, setState] = useState<"idle" | "running" | "done">("idle");
  const [error, setError] = useState<unknown>(null);
  async function run() {
    setState("running");
    setError(null);
    let received = 0;
    try {
      for await (const chunk of client.users.export({})) {
        received += chunk.length;
        // Each chunk rendered now, then the browser gets a task to paint it: chunks that arrived together
        // would otherwise be batched by React into one render at the end.
        flushSync(() => {
          setCount(received);
          setChunks((n) => n + 1);
          setFirst((shown) => (shown.length < 50 ? [...shown, ...chunk].slice(0, 50) : shown));
        });
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      setState("done");
    } catch (thrown) {
      setError(thrown);
      setState("idle");
    }
  }
  return (
    <section>
      <h1>Export</h1>
      <button type="button" disabled={state === "running"} onClick={() => void run()}>
        Export all users
      </button>
      <p>
        <span data-testid="export-count">{count}</span> users received in {chunks} chunks
        {state === "done" && <span data-testid="export-done"> — done</span>}
      </p>
      {error !== null && <ErrorText error={error} />}
      <ul className="users">
        {first.map((user) => (
          <li key={user.id}>{user.displayName}</li>
        ))}
      </ul>
    </section>
  );
}
