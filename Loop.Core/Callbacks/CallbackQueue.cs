namespace Loop.Callbacks;

/// <summary>One queued callback: a delegate (see <see cref="IOLoop"/>'s InvokeCallback) and its state.</summary>
internal struct CallbackEntry
{
    public object Callback;
    public object? State;
}

/// <summary>
/// A growable array of callbacks, appended to and then drained whole. Not synchronized: the
/// loop keeps one for its own thread and guards the cross-thread one with a lock.
/// </summary>
internal struct CallbackQueue
{
    private CallbackEntry[] _items;
    private int _count;

    internal CallbackQueue(int capacity)
    {
        _items = new CallbackEntry[capacity];
        _count = 0;
    }

    internal readonly int Count => _count;

    /// <summary>Appends; returns true if the queue was empty before (the moment a sleeping loop needs a wake).</summary>
    internal bool Enqueue(object callback, object? state)
    {
        int count = _count;
        CallbackEntry[] items = _items;
        if ((uint)count >= (uint)items.Length)
        {
            Grow();
            items = _items;
        }

        items[count].Callback = callback;
        items[count].State = state;
        _count = count + 1;
        return count == 0;
    }

    /// <summary>Exchanges contents with <paramref name="other"/> (which must be empty) in O(1).</summary>
    internal void SwapWithEmpty(ref CallbackQueue other)
    {
        (_items, other._items) = (other._items, _items);
        (_count, other._count) = (other._count, _count);
    }

    /// <summary>Takes entry <paramref name="index"/> out, clearing the slot so it holds no reference.</summary>
    internal void Take(int index, out object callback, out object? state)
    {
        ref CallbackEntry entry = ref _items[index];
        callback = entry.Callback;
        state = entry.State;
        entry = default;
    }

    /// <summary>Empties the queue after every entry was <see cref="Take"/>n (the slots are already clear).</summary>
    internal void ResetAfterTakingAll() => _count = 0;

    /// <summary>Forgets every entry, clearing the slots (to drop callbacks unrun).</summary>
    internal void Reset()
    {
        if (_count > 0)
        {
            Array.Clear(_items, 0, _count);
            _count = 0;
        }
    }

    private void Grow() => Array.Resize(ref _items, Math.Max(16, _items.Length * 2));
}
